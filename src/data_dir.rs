//! `DATA_DIR`: the service's private folder. It holds the embedded database (`svc.db` and its
//! `-wal`/`-shm`), the worker's `outbox/` of `.eml` files and `auth.key`: password hashes, email
//! addresses and messages, readable by this user only.
//!
//! New files and folders are private through the umask (077, see
//! [`crate::secure_fs::restrict_umask`]). What an older version left looser is tightened when
//! `svc api` or `svc worker` starts ([`prepare`]): the folder to 0700, the database files and
//! outbox files to 0600, one log line each; a folder or file of another user is refused (exit 2).
//! `auth.key` keeps its own stricter rule: one readable by others is refused, not tightened, as
//! its key may have been read (see [`crate::auth::secret`]).

use std::path::Path;

use crate::secure_fs::{self, DirRule, GuardError};

/// The worker's file transport writes one `.eml` per email in this folder of `DATA_DIR`.
pub const OUTBOX: &str = "outbox";

/// The files of the embedded database: the file itself (see [`crate::queue::sqlite::DB_FILE`])
/// and SQLite's companions.
const DB_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

const DATA_DIR: DirRule = DirRule {
    what: "DATA_DIR",
    mode: 0o700,
    refuse_writable: false,
    // A volume may be linked in; its target must still be this user's.
    follow_symlink: true,
    group: None,
};

const OUTBOX_DIR: DirRule = DirRule {
    what: "the outbox folder",
    mode: 0o700,
    refuse_writable: false,
    follow_symlink: false,
    group: None,
};

/// Creates `dir` 0700, or checks the existing one (ours; a looser mode tightened to 0700), and
/// tightens the database and outbox files in it to 0600. A file where the folder should be is
/// left to the store, which retries until it is a folder.
///
/// # Errors
/// [`GuardError`] naming the folder or file of another user (and the fix), or an I/O error.
pub fn prepare(dir: &Path) -> Result<(), GuardError> {
    if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        // Not a folder (yet): the store reports itself unavailable and retries until it is one,
        // and a folder made then is private through the umask.
        return Ok(());
    }
    secure_fs::prepare_dir(dir, &DATA_DIR)?;
    for suffix in DB_SUFFIXES {
        let name = format!("{}{suffix}", crate::queue::sqlite::DB_FILE);
        secure_fs::tighten_file(&dir.join(name), 0o600, "the database file")?;
    }
    let outbox = dir.join(OUTBOX);
    if !std::fs::symlink_metadata(&outbox).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    secure_fs::prepare_dir(&outbox, &OUTBOX_DIR)?;
    let entries = std::fs::read_dir(&outbox).map_err(|source| GuardError::Io {
        what: OUTBOX_DIR.what,
        path: outbox.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        secure_fs::tighten_file(&entry.path(), 0o600, "an outbox file")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn an_older_looser_data_folder_is_tightened_and_a_new_one_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        prepare(&data).unwrap();
        assert_eq!(mode(&data), 0o700);

        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(data.join(OUTBOX)).unwrap();
        std::fs::set_permissions(data.join(OUTBOX), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let files = ["svc.db", "svc.db-wal", "svc.db-shm", "outbox/1.eml"];
        for name in files {
            std::fs::write(data.join(name), "x").unwrap();
            std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        std::fs::write(data.join("auth.key"), "k").unwrap();
        std::fs::set_permissions(
            data.join("auth.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        prepare(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(OUTBOX)), 0o700);
        for name in files {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
        assert_eq!(
            mode(&data.join("auth.key")),
            0o644,
            "the key file keeps its own rule (refused when readable, not silently tightened)"
        );
    }
}
