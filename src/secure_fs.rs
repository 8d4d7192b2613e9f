//! Private files and folders: the checks svc makes before it writes where its configuration
//! points it.
//!
//! svc often runs as root and writes into folders an operator names (`state_dir`, `log_dir`,
//! `DATA_DIR`). If another user can write to such a folder, they can put a symlink or a hard link
//! where svc is about to append, cut or rotate a file, and turn root's writes onto a file of their
//! choosing. So:
//!
//! - A folder is checked where it is made or first used ([`prepare_dir`]): a symlink is refused
//!   (unless the rule follows it), and so is a folder of another user; a mode looser than the
//!   rule's is tightened (one log line) or, when the rule says so, refused if group or others may
//!   write to it. Checks and changes go through one handle opened without following links, so
//!   nothing can be swapped in between.
//! - A file svc appends to is opened without following a symlink, created exclusively when new
//!   ([`open_append`], [`create_new`]), and its handle checked with `fstat` before anything is
//!   written, cut or renamed: a regular file of ours with one link. Anything else is a
//!   [`Refusal`]: reported, left alone, never written through.
//! - Every svc process runs with umask 077 ([`restrict_umask`]): what it creates is private
//!   unless it sets a mode on purpose (log files are 0640, for `log_group`).
//!
//! These run when a folder is prepared or a file opened, never per line written.

use std::fmt;
use std::fs::{DirBuilder, File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// This process's effective uid: the owner every file and folder svc writes must have.
pub fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Sets this process's umask to 077, so every file and folder it creates is private to its user
/// unless a mode is set on purpose. Processes it starts inherit it.
pub fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

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

/// What a file svc writes must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRule {
    /// The mode of a new file, and the most an existing one keeps.
    pub mode: u32,
    /// The group it must have (`log_group`); the group bits of `mode` are then granted.
    pub group: Option<u32>,
}

/// A folder (or a file svc must own) that svc refuses to use: the message names the path and
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(
        "{what} {path} is a symlink; refusing it (a link can be re-pointed to send svc's writes elsewhere): point {what} at the real folder"
    )]
    Symlink { what: &'static str, path: String },
    #[error("{what} {path} is not a folder")]
    NotDir { what: &'static str, path: String },
    #[error(
        "{what} {path} belongs to uid {owner}, not to uid {me} that svc runs as; refusing it: `chown {me} {path}`, or use one of this user's own"
    )]
    NotOwner {
        what: &'static str,
        path: String,
        owner: u32,
        me: u32,
    },
    #[error(
        "{what} {path} is writable by group or others (mode {mode:04o}), so another user could plant links in it; refusing it: `chmod go-w {path}`, and remove what you did not put there"
    )]
    Writable {
        what: &'static str,
        path: String,
        mode: u32,
    },
    #[error(
        "{what} {path}: cannot give it group {gid} ({source}): the daemon's user must belong to log_group"
    )]
    Group {
        what: &'static str,
        path: String,
        gid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> GuardError + 'a {
    move |source| GuardError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The mode an existing file or folder keeps: its own, without bits beyond `allowed`, with the
/// group bits of `allowed` when a group is set for readers. Set-id and sticky bits of a folder
/// stay (a set-group-id folder gives new files its group).
fn fitted(current: u32, allowed: u32, for_group: bool, is_dir: bool) -> u32 {
    let special = if is_dir { current & 0o7000 } else { 0 };
    let group = if for_group { allowed & 0o070 } else { 0 };
    special | (current & allowed & 0o777) | group
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

/// Why a file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Symlink,
    NotRegular,
    Owner(u32),
    Links(u64),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Symlink => f.write_str("is a symlink"),
            Why::NotRegular => f.write_str("is not a regular file"),
            Why::Owner(uid) => write!(f, "belongs to uid {uid}, not to uid {}", me()),
            Why::Links(n) => write!(f, "has {n} hard links"),
        }
    }
}

/// A file svc would have written that is not a private regular file of its own (a link
/// planted by someone, a file of another user): left alone, never written through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: PathBuf,
    pub why: Why,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: refused and left alone, not written through (remove it if svc did not make it)",
            self.path.display(),
            self.why
        )
    }
}

/// Why a file could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Something other than a private regular file of ours is there.
    Refused(Refusal),
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        OpenError::Io(error)
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Refused(refusal) => refusal.fmt(f),
            OpenError::Io(error) => error.fmt(f),
        }
    }
}

/// Whether `meta` (from `lstat` or `fstat`) is a file svc may write: regular, ours, one link.
fn judge(meta: &Metadata) -> Result<(), Why> {
    if meta.file_type().is_symlink() {
        Err(Why::Symlink)
    } else if !meta.is_file() {
        Err(Why::NotRegular)
    } else if meta.uid() != me() {
        Err(Why::Owner(meta.uid()))
    } else if meta.nlink() != 1 {
        Err(Why::Links(meta.nlink()))
    } else {
        Ok(())
    }
}

fn refused(path: &Path, why: Why) -> OpenError {
    OpenError::Refused(Refusal {
        path: path.to_path_buf(),
        why,
    })
}

/// `fstat`s an open handle: a regular file of ours with one link, or a [`Refusal`].
///
/// # Errors
/// [`OpenError::Refused`], or the `fstat` failed.
pub fn check_handle(file: &File, path: &Path) -> Result<Metadata, OpenError> {
    let meta = file.metadata()?;
    judge(&meta).map_err(|why| refused(path, why))?;
    Ok(meta)
}

/// Opens an existing file without following a symlink (and without opening a device or FIFO
/// at all: `lstat` first), for reading and, with `append`, appending. `Ok(None)` when there is
/// no such file.
fn open_existing(path: &Path, append: bool) -> Result<Option<(File, Metadata)>, OpenError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => judge(&meta).map_err(|why| refused(path, why))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let opened = OpenOptions::new()
        .read(true)
        .append(append)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refused(path, Why::Symlink)),
        Err(e) => return Err(e.into()),
    };
    let meta = check_handle(&file, path)?;
    Ok(Some((file, meta)))
}

/// Creates `path` exclusively (never through a link: an existing name, link or not, is
/// `AlreadyExists`) with `rule`'s mode and group.
fn new_file(path: &Path, rule: &FileRule, append: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(append)
        .append(append)
        .write(!append)
        .create_new(true)
        .mode(rule.mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if let Some(gid) = rule.group.filter(|&gid| gid != meta.gid()) {
        nix::unistd::fchown(&file, None, Some(nix::unistd::Gid::from_raw(gid)))?;
    }
    // The umask took bits off the mode asked for.
    if meta.mode() & 0o7777 != rule.mode {
        file.set_permissions(Permissions::from_mode(rule.mode))?;
    }
    Ok(file)
}

/// Gives an existing file of ours `rule`'s group and takes off mode bits beyond `rule.mode`
/// (one log line). A failure is logged: the file stays usable.
fn conform(file: &File, meta: &Metadata, path: &Path, rule: &FileRule) {
    if let Some(gid) = rule.group.filter(|&gid| gid != meta.gid())
        && let Err(error) = nix::unistd::fchown(file, None, Some(nix::unistd::Gid::from_raw(gid)))
    {
        tracing::warn!(%error, path = %path.display(), gid, "cannot give a log file log_group");
    }
    let mode = meta.mode() & 0o7777;
    let want = fitted(mode, rule.mode, rule.group.is_some(), false);
    if want == mode {
        return;
    }
    match file.set_permissions(Permissions::from_mode(want)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            "{} was mode {mode:04o}, now {want:04o} (svc keeps its files private)",
            path.file_name().map_or(path.display(), |n| Path::new(n).display())
        ),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot tighten the mode of a file")
        }
    }
}

/// Opens `path` to append (and read): a new file is created exclusively with `rule`'s mode and
/// group; an existing one is opened without following a symlink, checked (regular, ours, one
/// link) and brought to `rule` (a looser mode is tightened, with a log line).
///
/// # Errors
/// [`OpenError::Refused`] for anything but a private regular file of ours (never opened for
/// writing), or the I/O error.
pub fn open_append(path: &Path, rule: &FileRule) -> Result<File, OpenError> {
    // A file deleted between the two attempts is created on the next round.
    for _ in 0..3 {
        match new_file(path, rule, true) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        if let Some((file, meta)) = open_existing(path, true)? {
            conform(&file, &meta, path, rule);
            return Ok(file);
        }
    }
    Err(OpenError::Io(io::Error::other(
        "the file keeps appearing and disappearing",
    )))
}

/// Creates `path` for writing, exclusively (an existing name, link or not, is an error), with
/// `rule`'s mode and group.
///
/// # Errors
/// `AlreadyExists`, or another I/O error.
pub fn create_new(path: &Path, rule: &FileRule) -> io::Result<File> {
    new_file(path, rule, false)
}

/// Opens an existing file of ours for reading, without following a symlink; `Ok(None)` when
/// there is none.
///
/// # Errors
/// [`OpenError::Refused`] for anything but a private regular file of ours, or the I/O error.
pub fn open_read(path: &Path) -> Result<Option<(File, Metadata)>, OpenError> {
    open_existing(path, false)
}

/// Checks an existing file svc will write or rotate later, without writing it, and brings it to
/// `rule` like [`open_append`]. `Ok(())` when there is no such file.
///
/// # Errors
/// As for [`open_read`].
pub fn inspect(path: &Path, rule: &FileRule) -> Result<(), OpenError> {
    if let Some((file, meta)) = open_existing(path, false)? {
        conform(&file, &meta, path, rule);
    }
    Ok(())
}

/// Takes mode bits beyond `allowed` off an existing regular file of ours (one log line); a file
/// of another user is refused. Symlinks and other kinds of file are left alone (in a private
/// folder, only its owner can have put them there). Nothing happens when there is no such file.
///
/// # Errors
/// [`GuardError::NotOwner`] for another user's file, or the I/O error.
pub fn tighten_file(path: &Path, allowed: u32, what: &'static str) -> Result<(), GuardError> {
    let fail = io_error(what, path);
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail(e)),
    };
    let me = me();
    if meta.uid() != me {
        return Err(GuardError::NotOwner {
            what,
            path: path.display().to_string(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    let want = fitted(mode, allowed, false, false);
    if want == mode {
        return Ok(());
    }
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail(e)),
    };
    let now = file.metadata().map_err(io_error(what, path))?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        // Replaced since the look: the next start sees the new one.
        return Ok(());
    }
    file.set_permissions(Permissions::from_mode(want))
        .map_err(io_error(what, path))?;
    tracing::warn!(
        path = %path.display(),
        "{what} was mode {mode:04o}, now {want:04o} (svc keeps its files private)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    const LOG_DIR: DirRule = DirRule {
        what: "log_dir",
        mode: 0o750,
        refuse_writable: true,
        follow_symlink: false,
        group: None,
    };

    const LOG_FILE: FileRule = FileRule {
        mode: 0o640,
        group: None,
    };

    #[test]
    fn a_folder_is_made_with_the_rule_mode_and_a_looser_one_tightened_or_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        prepare_dir(&dir, &LOG_DIR).unwrap();
        assert_eq!(mode(&dir), 0o750);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&dir, &LOG_DIR).unwrap();
        assert_eq!(mode(&dir), 0o750);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o700)).unwrap();
        prepare_dir(&dir, &LOG_DIR).unwrap();
        assert_eq!(mode(&dir), 0o700, "a stricter mode stays");
        for loose in [0o770, 0o757, 0o1777] {
            std::fs::set_permissions(&dir, Permissions::from_mode(loose)).unwrap();
            let error = prepare_dir(&dir, &LOG_DIR).unwrap_err();
            assert!(
                matches!(error, GuardError::Writable { mode, .. } if mode == loose),
                "{error}"
            );
            assert!(error.to_string().contains("chmod go-w"), "{error}");
            assert_eq!(mode(&dir), loose, "a refused folder is not touched");
        }
        let tightened = DirRule {
            refuse_writable: false,
            ..LOG_DIR
        };
        prepare_dir(&dir, &tightened).unwrap();
        assert_eq!(mode(&dir), 0o1750);
    }

    #[test]
    fn a_symlinked_folder_is_refused_unless_the_rule_follows_it() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let error = prepare_dir(&link, &LOG_DIR).unwrap_err();
        assert!(matches!(error, GuardError::Symlink { .. }), "{error}");
        let follow = DirRule {
            follow_symlink: true,
            ..LOG_DIR
        };
        prepare_dir(&link, &follow).unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let error = prepare_dir(&file, &LOG_DIR).unwrap_err();
        assert!(matches!(error, GuardError::NotDir { .. }), "{error}");
    }

    #[test]
    fn appending_never_goes_through_a_link_and_makes_new_files_0640() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("secret");
        std::fs::write(&target, "root only\n").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o600)).unwrap();

        let link = tmp.path().join("app.log.000001");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        match open_append(&link, &LOG_FILE) {
            Err(OpenError::Refused(r)) => assert_eq!(r.why, Why::Symlink),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let hard = tmp.path().join("app.log.000002");
        std::fs::hard_link(&target, &hard).unwrap();
        match open_append(&hard, &LOG_FILE) {
            Err(OpenError::Refused(r)) => assert_eq!(r.why, Why::Links(2)),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let dangling = tmp.path().join("app.log.000003");
        std::os::unix::fs::symlink(tmp.path().join("nothing"), &dangling).unwrap();
        assert!(matches!(
            open_append(&dangling, &LOG_FILE),
            Err(OpenError::Refused(_))
        ));
        assert!(!tmp.path().join("nothing").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root only\n");
        assert_eq!(mode(&target), 0o600);

        let fresh = tmp.path().join("app.log.000004");
        open_append(&fresh, &LOG_FILE).unwrap();
        assert_eq!(mode(&fresh), 0o640);
        std::fs::set_permissions(&fresh, Permissions::from_mode(0o666)).unwrap();
        open_append(&fresh, &LOG_FILE).unwrap();
        assert_eq!(mode(&fresh), 0o640, "a looser file of ours is tightened");
    }

    #[test]
    fn tightening_leaves_links_alone_and_takes_bits_off_files() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("svc.db");
        std::fs::write(&db, "").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        tighten_file(&db, 0o600, "the database").unwrap();
        assert_eq!(mode(&db), 0o600);
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "").unwrap();
        std::fs::set_permissions(&outside, Permissions::from_mode(0o644)).unwrap();
        let link = tmp.path().join("svc.db-wal");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        tighten_file(&link, 0o600, "the database").unwrap();
        assert_eq!(mode(&outside), 0o644);
        tighten_file(&tmp.path().join("absent"), 0o600, "the database").unwrap();
    }
}
