//! The file transport: one RFC 5322 `.eml` file per job in `$DATA_DIR/outbox/`.
//!
//! A file is written to a temporary name in the same folder, flushed to disk, then renamed over
//! `<job id>.eml` (and the folder is synced), so a reader never sees half a message and a retried
//! job replaces its file instead of adding another. A worker killed between the two leaves its
//! temporary file behind; [`Outbox::sweep`] removes those once they are surely abandoned.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::MailError;

/// The outbox folder.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: PathBuf) -> Self {
        Outbox { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a job's email goes to.
    pub fn path_for(&self, job_id: &str) -> PathBuf {
        self.dir.join(format!("{}.eml", file_name(job_id)))
    }

    /// Removes temporary files (`.*.tmp`) last modified more than `older_than` ago: what a
    /// worker killed mid-write left. Only old ones, because other workers may share the folder
    /// and be writing theirs right now (a write takes milliseconds). Returns how many went;
    /// a folder that does not exist yet has none.
    pub fn sweep(&self, older_than: Duration) -> std::io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|modified| now.duration_since(modified).unwrap_or_default());
            if age.is_ok_and(|age| age > older_than) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Writes `bytes` as the email of `job_id`, atomically; returns the file's path.
    ///
    /// # Errors
    /// [`MailError::Outbox`] naming the path when the folder or file cannot be written.
    pub async fn write(&self, job_id: &str, bytes: &[u8]) -> Result<PathBuf, MailError> {
        let (dir, target, bytes) = (self.dir.clone(), self.path_for(job_id), bytes.to_vec());
        tokio::task::spawn_blocking(move || {
            write_atomically(&dir, &target, &bytes).map(|()| target)
        })
        .await
        .map_err(MailError::OutboxTask)?
    }
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let fail = |action: &'static str, path: &Path, source: std::io::Error| MailError::Outbox {
        action,
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create the outbox folder", dir, e))?;
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp).map_err(|e| fail("create", &temp, e))?;
        file.write_all(bytes).map_err(|e| fail("write", &temp, e))?;
        file.sync_all().map_err(|e| fail("sync", &temp, e))?;
        std::fs::rename(&temp, target).map_err(|e| fail("rename the email to", target, e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("sync", dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A job id as a safe file name: letters, digits, `-`, `_` and `.` stay; anything else
/// (including a leading `.`) becomes `%XX`, so distinct ids never share a file.
pub fn file_name(job_id: &str) -> String {
    let mut out = String::with_capacity(job_id.len());
    for (i, byte) in job_id.bytes().enumerate() {
        let plain =
            byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || (byte == b'.' && i > 0);
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name("welcome-42"), "welcome-42");
        assert_eq!(file_name("../x"), "%2E.%2Fx");
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
    }

    #[tokio::test]
    async fn a_rewrite_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox"));
        outbox.write("welcome-1", b"first").await.unwrap();
        let path = outbox.write("welcome-1", b"second").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(outbox.dir()).unwrap().count(), 1);
    }

    #[test]
    fn a_sweep_removes_only_abandoned_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().to_owned());
        let file = |name: &str, age: Duration| {
            let path = dir.path().join(name);
            std::fs::write(&path, "x").unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
            path
        };
        let hour = Duration::from_secs(3600);
        let abandoned = file(".0d1c.tmp", hour);
        let in_progress = file(".9f2e.tmp", Duration::ZERO);
        let email = file("welcome-1.eml", hour);
        assert_eq!(outbox.sweep(Duration::from_secs(600)).unwrap(), 1);
        assert!(!abandoned.exists());
        assert!(in_progress.exists() && email.exists());
        let missing = Outbox::new(dir.path().join("not-yet"));
        assert_eq!(missing.sweep(Duration::ZERO).unwrap(), 0);
    }

    #[tokio::test]
    async fn a_file_in_place_of_the_folder_is_a_transient_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outbox"), "in the way").unwrap();
        let err = Outbox::new(dir.path().join("outbox"))
            .write("j", b"x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, MailError::Outbox { .. })
                && !err.is_permanent()
                && err.to_string().contains("outbox"),
            "{err}"
        );
    }
}
