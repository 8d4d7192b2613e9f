//! The daemon's state folder (`run/`): created 0700 and never a symlink; the pid file inside it is
//! locked with `flock` for the daemon's whole life, so two racing `svc start` never make two
//! daemons, and a pid file left by a killed daemon is recognised as stale (nobody holds its lock).

use std::fs::{DirBuilder, File};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Why the state folder or pid file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("{path} is a symlink; refusing to use it as the state folder")]
    Symlink { path: String },
    #[error("{path} belongs to uid {owner}, not to this user (uid {me})")]
    NotOwner { path: String, owner: u32, me: u32 },
    #[error("a daemon is already running for this config (pid {pid})")]
    AlreadyRunning { pid: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateDirError + '_ {
    move |source| StateDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `dir` with mode 0700 (and its parents as needed), or checks an existing one: not a
/// symlink, owned by this user; a looser mode is tightened to 0700.
///
/// # Errors
/// A symlink, a folder of another user, or an I/O error.
pub fn prepare(dir: &Path) -> Result<(), StateDirError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io(dir))?;
    if meta.file_type().is_symlink() {
        return Err(StateDirError::Symlink {
            path: dir.display().to_string(),
        });
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StateDirError::NotOwner {
            path: dir.display().to_string(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    Ok(())
}

/// The locked pid file; the lock is released when this is dropped (or the process dies).
pub struct PidFile {
    _lock: Flock<File>,
    path: std::path::PathBuf,
}

impl PidFile {
    /// Locks the pid file at `path` and writes this process's pid into it.
    ///
    /// # Errors
    /// [`StateDirError::AlreadyRunning`] when another live daemon holds the lock.
    pub fn acquire(path: &Path) -> Result<PidFile, StateDirError> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io(path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, _)) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(StateDirError::AlreadyRunning {
                    pid: pid.trim().to_owned(),
                });
            }
        };
        lock.set_len(0).map_err(io(path))?;
        lock.rewind().map_err(io(path))?;
        writeln!(lock, "{}", std::process::id()).map_err(io(path))?;
        Ok(PidFile {
            _lock: lock,
            path: path.to_path_buf(),
        })
    }

    /// Whether a live daemon holds the lock on the pid file at `path`.
    pub fn is_locked(path: &Path) -> bool {
        let Ok(file) = File::open(path) else {
            return false;
        };
        Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_is_private_and_symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(matches!(prepare(&link), Err(StateDirError::Symlink { .. })));
    }

    #[test]
    fn pid_file_admits_one_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("svc.pid");
        let first = PidFile::acquire(&path).unwrap();
        assert!(PidFile::is_locked(&path));
        match PidFile::acquire(&path) {
            Err(StateDirError::AlreadyRunning { pid }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("expected AlreadyRunning, got {:?}", other.err()),
        }
        drop(first);
        assert!(!PidFile::is_locked(&path));
        PidFile::acquire(&path).unwrap();
    }
}
