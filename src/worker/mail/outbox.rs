//! The file transport: one RFC 5322 `.eml` file per job in `$DATA_DIR/outbox/`.
//!
//! A file is written to a temporary name in the same folder, flushed to disk, then renamed over
//! `<job id>.eml` (and the folder is synced), so a reader never sees half a message and a retried
//! job replaces its file instead of adding another.

use std::io::Write;
use std::path::{Path, PathBuf};

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

    /// Writes `bytes` as the email of `job_id`, atomically; returns the file's path.
    ///
    /// # Errors
    /// [`MailError::Transient`] naming the path when the folder or file cannot be written.
    pub async fn write(&self, job_id: &str, bytes: &[u8]) -> Result<PathBuf, MailError> {
        let (dir, target, bytes) = (self.dir.clone(), self.path_for(job_id), bytes.to_vec());
        tokio::task::spawn_blocking(move || {
            write_atomically(&dir, &target, &bytes).map(|()| target)
        })
        .await
        .map_err(|e| MailError::Transient(format!("outbox task failed: {e}")))?
    }
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        MailError::Transient(format!("cannot {what} {}: {e}", path.display()))
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

    #[tokio::test]
    async fn a_file_in_place_of_the_folder_is_a_transient_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outbox"), "in the way").unwrap();
        let err = Outbox::new(dir.path().join("outbox"))
            .write("j", b"x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, MailError::Transient(ref m) if m.contains("outbox")),
            "{err}"
        );
    }
}
