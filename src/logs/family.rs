//! The files of one log (`app.log`, `error.log`, a program's own log) and how they are named.
//!
//! A log is a numbered series: `app.log.000001`, `app.log.000002`, ... The highest number is
//! the file being written; `app.log` is a symlink to it, so `tail -F logs/app.log` and `less`
//! work as usual. A rotation starts the next number and never renames a file: a finished file
//! keeps its name (plus `.gz` once compressed) until retention deletes it. That is what lets a
//! reader follow across rotations with neither gap nor repeat: after file N comes file N+1, and
//! file N is complete as soon as file N+1 exists.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Digits in a file number (more when the count outgrows them; readers sort numerically).
const SEQ_WIDTH: usize = 6;

/// One log's series of files: `dir/base.NNNNNN[.gz]`, with `dir/base` linking to the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub dir: PathBuf,
    /// `app.log`, `error.log`, `api.log`...
    pub base: String,
}

/// Which forms of a numbered file exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forms {
    pub plain: bool,
    pub gz: bool,
}

impl Family {
    pub fn new(dir: impl Into<PathBuf>, base: impl Into<String>) -> Family {
        Family {
            dir: dir.into(),
            base: base.into(),
        }
    }

    /// `dir/base`: the symlink to the file being written.
    pub fn link(&self) -> PathBuf {
        self.dir.join(&self.base)
    }

    /// The uncompressed file number `seq`.
    pub fn path(&self, seq: u64) -> PathBuf {
        self.dir
            .join(format!("{}.{seq:0width$}", self.base, width = SEQ_WIDTH))
    }

    /// The compressed file number `seq`.
    pub fn gz_path(&self, seq: u64) -> PathBuf {
        let mut path = self.path(seq).into_os_string();
        path.push(".gz");
        PathBuf::from(path)
    }

    /// Where a compression in progress writes, renamed to [`Family::gz_path`] when complete.
    pub fn gz_tmp_path(&self, seq: u64) -> PathBuf {
        let mut path = self.gz_path(seq).into_os_string();
        path.push(".tmp");
        PathBuf::from(path)
    }

    /// The file number `name` stands for in this family, and whether it is compressed.
    /// `None` for other files (including unfinished `.gz.tmp`).
    pub fn parse(&self, name: &str) -> Option<(u64, bool)> {
        let rest = name.strip_prefix(&self.base)?.strip_prefix('.')?;
        let (digits, gz) = match rest.strip_suffix(".gz") {
            Some(digits) => (digits, true),
            None => (rest, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((digits.parse().ok()?, gz))
    }

    /// Every numbered file of the family, oldest first. A missing folder is an empty family.
    ///
    /// # Errors
    /// The folder cannot be read.
    pub fn list(&self) -> io::Result<BTreeMap<u64, Forms>> {
        let mut files = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some((seq, gz)) = name.to_str().and_then(|n| self.parse(n)) else {
                continue;
            };
            let forms: &mut Forms = files.entry(seq).or_default();
            if gz {
                forms.gz = true;
            } else {
                forms.plain = true;
            }
        }
        Ok(files)
    }

    /// Opens file `seq` for reading: the plain file when it is there, else its `.gz` (which a
    /// compression may have replaced it with meanwhile). `Ok(None)` when neither exists
    /// (retention deleted it). A symlink is not followed: the writer never makes one in the
    /// series, so it was planted there, and it counts as absent.
    ///
    /// # Errors
    /// The file exists but cannot be opened.
    pub fn open(&self, seq: u64) -> io::Result<Option<Opened>> {
        match open_no_link(&self.path(seq)) {
            Ok(file) => return Ok(Some(Opened::Plain(file))),
            Err(e) if !is_absent(&e) => return Err(e),
            Err(_) => {}
        }
        match open_no_link(&self.gz_path(seq)) {
            Ok(file) => Ok(Some(Opened::Gz(Box::new(MultiGzDecoder::new(
                BufReader::with_capacity(256 * 1024, file),
            ))))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Opens a file for reading without following a symlink.
fn open_no_link(path: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// No such file, or a symlink (which [`open_no_link`] does not follow).
fn is_absent(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ELOOP)
}

/// A numbered file opened for reading.
pub enum Opened {
    /// Uncompressed: it may be the file being written, so it can grow.
    Plain(File),
    /// Compressed: finished.
    Gz(Box<MultiGzDecoder<BufReader<File>>>),
}

impl Read for Opened {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Opened::Plain(file) => file.read(buf),
            Opened::Gz(decoder) => decoder.read(buf),
        }
    }
}

/// Whether `path` exists (a dangling symlink counts as existing).
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Deletes a log file that is done with; a file already gone is fine, any other failure is
/// logged (the next retention pass tries again).
pub fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(error = %e, file = %path.display(), "cannot delete an old log file");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let family = Family::new("/logs", "app.log");
        assert_eq!(family.path(7), PathBuf::from("/logs/app.log.000007"));
        assert_eq!(family.gz_path(7), PathBuf::from("/logs/app.log.000007.gz"));
        assert_eq!(family.parse("app.log.000007"), Some((7, false)));
        assert_eq!(family.parse("app.log.1234567.gz"), Some((1_234_567, true)));
        for other in [
            "app.log",
            "app.log.",
            "app.log.000007.gz.tmp",
            "app.log.7x",
            "error.log.000001",
            "app.logs.000001",
        ] {
            assert_eq!(family.parse(other), None, "{other}");
        }
    }

    #[test]
    fn listing_orders_numerically_and_reads_either_form() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        assert!(family.list().unwrap().is_empty());
        std::fs::write(family.path(10), "ten\n").unwrap();
        std::fs::write(family.path(9), "nine\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(family.gz_path(1_000_000)).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, b"million\n").unwrap();
        gz.finish().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let listed: Vec<(u64, Forms)> = family.list().unwrap().into_iter().collect();
        let seqs: Vec<u64> = listed.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![9, 10, 1_000_000]);
        assert_eq!(
            listed[2].1,
            Forms {
                plain: false,
                gz: true
            }
        );
        let mut text = String::new();
        family
            .open(1_000_000)
            .unwrap()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "million\n");
        assert!(family.open(11).unwrap().is_none());
    }
}
