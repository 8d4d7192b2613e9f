//! Folders svc writes into: made with the rule's mode, or checked and tightened where they exist.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{GuardError, fitted, io_error, me};

/// What a folder must be.
#[derive(Debug, Clone, Copy)]
pub struct DirRule {
    /// The folder's name in messages: `state_dir`, `log_dir`, `DATA_DIR`.
    pub what: &'static str,
    /// The mode of a new folder, and the most an existing one keeps (other bits are removed).
    pub mode: u32,
    /// Refuse, rather than tighten, a folder that group or others may write to: someone may
    /// already have planted links in it.
    pub refuse_writable: bool,
    /// Follow a symlink to a folder (DATA_DIR: a volume may be linked in) instead of refusing it.
    pub follow_symlink: bool,
    /// The group the folder must have (`log_group`); the group bits of `mode` are then granted.
    pub group: Option<u32>,
}

/// Creates `dir` (mode `rule.mode`, parents as needed), or checks an existing one: not a symlink
/// (unless `rule.follow_symlink`), owned by this user, not writable by group or others when
/// `rule.refuse_writable`; a looser mode is tightened to the rule's (one log line), and the
/// folder given `rule.group`.
///
/// # Errors
/// [`GuardError`] naming the folder and the fix.
pub fn prepare_dir(dir: &Path, rule: &DirRule) -> Result<(), GuardError> {
    let what = rule.what;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(what, parent))?;
    }
    let created = match DirBuilder::new().mode(rule.mode).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io_error(what, dir)(e)),
    };
    let path = || dir.display().to_string();
    let mut flags = libc::O_DIRECTORY | libc::O_NOCTTY;
    if !rule.follow_symlink {
        flags |= libc::O_NOFOLLOW;
    }
    let handle = match OpenOptions::new().read(true).custom_flags(flags).open(dir) {
        Ok(handle) => handle,
        Err(e) => {
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() && !rule.follow_symlink => {
                    GuardError::Symlink { what, path: path() }
                }
                Ok(meta) if !meta.is_dir() && !meta.file_type().is_symlink() => {
                    GuardError::NotDir { what, path: path() }
                }
                _ if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    GuardError::NotDir { what, path: path() }
                }
                _ => io_error(what, dir)(e),
            });
        }
    };
    let meta = handle.metadata().map_err(io_error(what, dir))?;
    let me = me();
    if meta.uid() != me {
        return Err(GuardError::NotOwner {
            what,
            path: path(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    if !created && rule.refuse_writable && mode & 0o022 != 0 {
        return Err(GuardError::Writable {
            what,
            path: path(),
            mode,
        });
    }
    if let Some(gid) = rule.group.filter(|&gid| gid != meta.gid()) {
        nix::unistd::fchown(&handle, None, Some(nix::unistd::Gid::from_raw(gid))).map_err(
            |source| GuardError::Group {
                what,
                path: path(),
                gid,
                source,
            },
        )?;
    }
    // A new folder gets the rule's mode exactly (the umask took bits off it).
    let want = if created {
        rule.mode
    } else {
        fitted(mode, rule.mode, rule.group.is_some(), true)
    };
    if want != mode {
        handle
            .set_permissions(Permissions::from_mode(want))
            .map_err(io_error(what, dir))?;
        if !created {
            tracing::warn!(
                path = %dir.display(),
                "{what} was mode {mode:04o}, now {want:04o} (svc keeps its folders private)"
            );
        }
    }
    Ok(())
}
