//! Files svc writes: opened without following a link, created exclusively, and each handle
//! checked (a regular file of ours with one link) before anything is written through it.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{GuardError, fitted, io_error, me};

/// What a file svc writes must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRule {
    /// The mode of a new file, and the most an existing one keeps.
    pub mode: u32,
    /// The group it must have (`log_group`); the group bits of `mode` are then granted.
    pub group: Option<u32>,
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
    give_rule(&file, rule)?;
    Ok(file)
}

/// Gives a file svc just created `rule`'s group and mode.
fn give_rule(file: &File, rule: &FileRule) -> io::Result<()> {
    let meta = file.metadata()?;
    if let Some(gid) = rule.group.filter(|&gid| gid != meta.gid()) {
        nix::unistd::fchown(file, None, Some(nix::unistd::Gid::from_raw(gid)))?;
    }
    // The umask took bits off the mode asked for.
    if meta.mode() & 0o7777 != rule.mode {
        file.set_permissions(Permissions::from_mode(rule.mode))?;
    }
    Ok(())
}

/// Creates a file with no name yet in folder `dir` (`O_TMPFILE`), open to append, with
/// `rule`'s mode and group: [`give_name`] links it into the folder. Until then nobody else can
/// open it, and closing it leaves nothing behind.
///
/// # Errors
/// The file system cannot make such files (`EOPNOTSUPP`), or another I/O error.
pub fn new_unnamed(dir: &Path, rule: &FileRule) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .mode(rule.mode)
        .custom_flags(libc::O_TMPFILE | libc::O_NOCTTY)
        .open(dir)?;
    give_rule(&file, rule)?;
    Ok(file)
}

/// Names a file from [`new_unnamed`] `path`, never replacing anything there.
///
/// # Errors
/// `AlreadyExists` when the name is taken; another error when it cannot be linked (no `/proc`,
/// another file system).
pub fn give_name(file: &File, path: &Path) -> io::Result<()> {
    use nix::fcntl::{AT_FDCWD, AtFlags};
    use std::os::fd::AsRawFd;
    let handle = format!("/proc/self/fd/{}", file.as_raw_fd());
    nix::unistd::linkat(
        AT_FDCWD,
        handle.as_str(),
        AT_FDCWD,
        path,
        AtFlags::AT_SYMLINK_FOLLOW,
    )
    .map_err(io::Error::from)
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
