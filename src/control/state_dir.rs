//! The daemon's state folder (`run/`): created 0700 and never a symlink (the checks are
//! [`crate::secure_fs::prepare_dir`]'s, shared with the log folder); the pid file inside it is
//! locked with `flock` for the daemon's whole life, so two racing `svc start` never make two
//! daemons, and a pid file left by a killed daemon is recognised as stale (nobody holds its lock).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::secure_fs::{self, DirRule, GuardError};

/// Why the pid file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
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

/// The state folder: 0700, never a symlink, ours; a looser mode is tightened.
const STATE_DIR: DirRule = DirRule {
    what: "state_dir",
    mode: 0o700,
    refuse_writable: false,
    follow_symlink: false,
    group: None,
};

/// Creates `dir` with mode 0700 (and its parents as needed), or checks an existing one: not a
/// symlink, owned by this user; a looser mode is tightened to 0700 (with a log line).
///
/// # Errors
/// A symlink, a folder of another user, or an I/O error, naming the folder and the fix.
pub fn prepare(dir: &Path) -> Result<(), GuardError> {
    secure_fs::prepare_dir(dir, &STATE_DIR)
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
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

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
        assert!(matches!(prepare(&link), Err(GuardError::Symlink { .. })));
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
