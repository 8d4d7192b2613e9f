//! The access tokens' signing key on the embedded default: without `AUTH_SECRET`, a random key is
//! made once in `DATA_DIR/auth.key` (mode 0600) and read by every instance on that folder, so
//! they all accept each other's tokens and a restart logs nobody out.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The key file's name in `DATA_DIR`.
pub const KEY_FILE: &str = "auth.key";

/// Why the key file could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct KeyFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The key in `data_dir`'s key file, made first if there is none (blocking).
///
/// Made atomically: written to a private temporary file, then linked to its name, which fails
/// if another instance linked its own first; then everyone reads the winner's.
///
/// # Errors
/// [`KeyFileError`] when the folder or file cannot be made or read, or the file is not a key
/// this module wrote (too short, or readable by others).
pub fn load_or_create(data_dir: &Path) -> Result<Vec<u8>, KeyFileError> {
    let path = data_dir.join(KEY_FILE);
    let fail = |source| KeyFileError {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(&fail)?;
    match read(&path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let temp = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(super::hex(&super::random_bytes::<32>()).as_bytes())?;
        file.sync_all()?;
        match std::fs::hard_link(&temp, &path) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    written.map_err(&fail)?;
    read(&path).map_err(fail)
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        return Err(std::io::Error::new(
            ErrorKind::PermissionDenied,
            "the key file is readable by others; `chmod 600` it (or delete it to make a new key, which logs everyone out)",
        ));
    }
    let text = std::io::read_to_string(file)?;
    let key = text.trim().as_bytes().to_vec();
    if key.len() < super::token::MIN_KEY {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "the key file holds no key; delete it to make a new one",
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create(&data).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(&data).unwrap(), first);
        let mode = std::fs::metadata(data.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(data.join(KEY_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert!(load_or_create(&data).is_err(), "a readable key is refused");
    }
}
