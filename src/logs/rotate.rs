//! A size-rotated log file that never loses, splits or repeats a line across a rotation.
//!
//! Why our own and not `file-rotate` (measured and reasoned in `docs/LOGS.md`): file-rotate
//! renames every kept file on each rotation (`.1` → `.2` → ...), which is what makes following
//! across rotations racy for a reader; it gzips inside `write()`, stalling every child behind a
//! compression; it panics when a kept file vanishes under it and silently drops writes when its
//! file cannot be opened; and a failed write leaves half a line in the file. Here:
//!
//! - Records are buffered and written in large `write`s; a rotation happens *before* a record
//!   that would take the file past `max_size`, after the buffer is flushed, so a file ends on a
//!   line boundary and stays within its size (unless one record alone is bigger).
//! - A rotation starts the next numbered file and moves the `app.log` symlink (see
//!   [`super::family`]); nothing is renamed, so readers never see a file change its name.
//! - Finished files are compressed on another thread ([`Compressor`]), so the writer never waits
//!   for gzip.
//! - A failed write (disk full, file gone) is cut back to the last whole line, the lines that
//!   did not make it are handed back to the caller to count ([`Dropped`]), and the next write
//!   reopens the file: writing resumes by itself when space returns.
//! - Files are opened without following a link, new ones created exclusively, and each handle is
//!   checked (a regular file of ours with one link) before it is cut, appended to or rotated
//!   ([`secure_fs::open_append`]). A file that fails the check (a link someone planted, a file
//!   of another user) is refused: left alone, logged, handed to the caller
//!   ([`RotatingFile::take_refusals`]), and writing goes on in the next numbered file. The
//!   checks run when a file is opened, not per record.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::family::{Family, Forms, remove_quietly};
use super::gzip::Compressor;
use crate::config::LogPolicy;
use crate::secure_fs::{self, FileRule, OpenError, Refusal};

/// Buffered bytes that trigger a write even while more records are coming.
const FLUSH_BYTES: usize = 256 * 1024;

/// Refused files skipped in a row before opening gives up (and the write fails, counted).
const MAX_REFUSED_IN_A_ROW: usize = 16;

/// Lines that could not be written, identified by the tags they were pushed with.
#[derive(Debug)]
pub struct Dropped {
    pub tags: Vec<u32>,
    pub error: io::Error,
}

impl Dropped {
    /// Both results' losses, as one.
    pub fn merge(first: Result<(), Dropped>, second: Result<(), Dropped>) -> Result<(), Dropped> {
        match (first, second) {
            (Ok(()), other) | (other, Ok(())) => other,
            (Err(mut a), Err(b)) => {
                a.tags.extend(b.tags);
                a.error = b.error;
                Err(a)
            }
        }
    }
}

/// One log being written: its numbered files, the current one open for appending.
pub struct RotatingFile {
    family: Family,
    policy: LogPolicy,
    /// The number of the file being written.
    seq: u64,
    file: Option<File>,
    /// Bytes in the current file, always at a line boundary.
    len: u64,
    /// Records not yet written, and one caller tag per record.
    buf: Vec<u8>,
    tags: Vec<u32>,
    compressor: Option<Compressor>,
    /// Whether the last write succeeded.
    healthy: bool,
    /// Whether the last rotation failed (so the warning is logged once).
    rotation_failing: bool,
    /// The mode and group of the files.
    rule: FileRule,
    /// Files refused since the caller last took them, and every file refused so far (each is
    /// logged once).
    refusals: Vec<Refusal>,
    refused: HashSet<PathBuf>,
}

impl RotatingFile {
    /// Opens the log `family`: continues its newest file (cut back to its last whole line, in
    /// case the daemon died mid-write), compresses finished files a crash left uncompressed,
    /// applies retention and points the symlink at the current file. Every file found is
    /// checked, and a looser mode of ours tightened to `rule`; a refused one is left alone. A
    /// current file that cannot be opened is not an error here: writes retry it, and count what
    /// they lose.
    ///
    /// # Errors
    /// The folder cannot be created or read.
    pub fn open(
        family: Family,
        policy: LogPolicy,
        compressor: Option<Compressor>,
        rule: FileRule,
    ) -> io::Result<RotatingFile> {
        std::fs::create_dir_all(&family.dir)?;
        remove_stale_tmp(&family)?;
        let mut files = family.list()?;
        adopt_plain_link(&family, &mut files)?;
        let seq = match files.last_key_value() {
            Some((&seq, forms)) if forms.plain => seq,
            Some((&seq, _)) => seq + 1,
            None => 1,
        };
        let mut log = RotatingFile {
            family,
            policy,
            seq,
            file: None,
            len: 0,
            buf: Vec::with_capacity(64 * 1024),
            tags: Vec::new(),
            compressor,
            healthy: true,
            rotation_failing: false,
            rule,
            refusals: Vec::new(),
            refused: HashSet::new(),
        };
        for (&old, forms) in files.range(..seq) {
            log.finish_leftover(old, *forms);
        }
        log.retain();
        if let Err(error) = log.ensure_open() {
            tracing::warn!(%error, file = %log.family.path(seq).display(), "cannot open the log file; will retry");
        }
        log.update_link();
        Ok(log)
    }

    /// Rotates by `policy` from now on: a new `max_size` counts from the next write, `keep` and
    /// `compress` from the next rotation.
    pub fn set_policy(&mut self, policy: LogPolicy) {
        self.policy = policy;
    }

    /// The file being written.
    pub fn current_path(&self) -> std::path::PathBuf {
        self.family.path(self.seq)
    }

    /// Whether the last write reached the file.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// The files refused since the last call (each was logged when it was met).
    pub fn take_refusals(&mut self) -> Vec<Refusal> {
        std::mem::take(&mut self.refusals)
    }

    /// Logs a refused file (once) and keeps it for [`RotatingFile::take_refusals`].
    fn refuse(&mut self, refusal: Refusal) {
        if self.refused.insert(refusal.path.clone()) {
            tracing::error!(
                file = %refusal.path.display(),
                reason = %refusal.why,
                "refusing a log file that is not svc's own (a planted link, another user's file): left alone, never written through; remove it"
            );
            self.refusals.push(refusal);
        }
    }

    /// Opens file `seq` to append or, when it is refused, the next number that is not. Returns
    /// the number opened and its file.
    fn open_from(&mut self, mut seq: u64) -> io::Result<(u64, File)> {
        for _ in 0..MAX_REFUSED_IN_A_ROW {
            match secure_fs::open_append(&self.family.path(seq), &self.rule) {
                Ok(file) => return Ok((seq, file)),
                Err(OpenError::Refused(refusal)) => {
                    self.refuse(refusal);
                    seq += 1;
                }
                Err(OpenError::Io(error)) => return Err(error),
            }
        }
        Err(io::Error::other(format!(
            "{MAX_REFUSED_IN_A_ROW} log files in a row were refused"
        )))
    }

    /// Appends one record (a whole line, newline included). Rotates first when the record would
    /// take the file past `max_size`; writes when the buffer is large.
    ///
    /// # Errors
    /// [`Dropped`]: the records that could not be written (this one is kept for the next try).
    pub fn push(&mut self, record: &[u8], tag: u32) -> Result<(), Dropped> {
        let mut result = Ok(());
        let filled = self.len + self.buf.len() as u64;
        if self.policy.max_size > 0
            && filled > 0
            && filled + record.len() as u64 > self.policy.max_size
        {
            result = self.flush();
            if result.is_ok() {
                self.rotate_now();
            }
        }
        self.buf.extend_from_slice(record);
        self.tags.push(tag);
        if self.buf.len() >= FLUSH_BYTES {
            result = Dropped::merge(result, self.flush());
        }
        result
    }

    /// Writes what is buffered.
    ///
    /// # Errors
    /// [`Dropped`]: the records that did not make it; the file keeps only whole lines.
    pub fn flush(&mut self) -> Result<(), Dropped> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.write_buffer();
        self.buf.clear();
        match result {
            Ok(()) => {
                self.tags.clear();
                self.healthy = true;
                Ok(())
            }
            Err((kept_lines, error)) => {
                let tags = self.tags.split_off(kept_lines.min(self.tags.len()));
                self.tags.clear();
                self.healthy = false;
                Err(Dropped { tags, error })
            }
        }
    }

    /// Flushes, then starts the next file if the current one holds anything (`svc logs --rotate`).
    ///
    /// # Errors
    /// [`Dropped`] records from the flush; the rotation itself only logs its failure.
    pub fn rotate(&mut self) -> Result<(), Dropped> {
        self.flush()?;
        if self.len > 0 {
            self.rotate_now();
        }
        Ok(())
    }

    /// Starts the next numbered file. On failure the current file goes on (over its size) and the
    /// next record retries.
    fn rotate_now(&mut self) {
        let (next, file) = match self.open_from(self.seq + 1) {
            Ok(opened) => opened,
            Err(error) => {
                if !self.rotation_failing {
                    tracing::warn!(%error, file = %self.family.path(self.seq + 1).display(), "cannot start the next log file; the current one grows meanwhile");
                }
                self.rotation_failing = true;
                return;
            }
        };
        self.rotation_failing = false;
        let finished = self.seq;
        self.seq = next;
        self.len = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        self.update_link();
        if self.policy.compress
            && let Some(compressor) = &self.compressor
        {
            compressor.compress(&self.family, finished);
        }
        self.retain();
    }

    /// Writes the buffer; on failure returns how many of its lines are in the file.
    fn write_buffer(&mut self) -> Result<(), (usize, io::Error)> {
        self.ensure_open().map_err(|e| (0, e))?;
        let len = self.len;
        let buf = &self.buf;
        let Some(file) = self.file.as_mut() else {
            return Err((0, io::Error::other("log file not open")));
        };
        let mut written = 0;
        let mut failure = None;
        while written < buf.len() {
            match file.write(&buf[written..]) {
                Ok(0) => {
                    failure = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let Some(error) = failure else {
            self.len += written as u64;
            return Ok(());
        };
        // Keep the whole lines that made it; cut off a partial one.
        let keep = memchr::memrchr(b'\n', &buf[..written]).map_or(0, |p| p + 1);
        if keep < written {
            let _ = file.set_len(len + keep as u64);
        }
        let kept_lines = memchr::memchr_iter(b'\n', &buf[..keep]).count();
        self.len = len + keep as u64;
        self.file = None;
        Err((kept_lines, error))
    }

    /// Opens the current file (checked, then its tail cut to a whole line) if it is not open;
    /// a refused one is skipped for the next number.
    fn ensure_open(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let (seq, file) = self.open_from(self.seq)?;
            let moved = seq != self.seq;
            self.seq = seq;
            self.len = trim_partial_line(&file, &self.family.path(seq))?;
            self.file = Some(file);
            if moved {
                self.update_link();
            }
        }
        Ok(())
    }

    /// Points `base` at the current file (atomically: a new symlink renamed over the old).
    fn update_link(&self) {
        let target = self.family.path(self.seq);
        let Some(name) = target.file_name() else {
            return;
        };
        let tmp = self.family.dir.join(format!(".{}.link", self.family.base));
        let _ = std::fs::remove_file(&tmp);
        let result = std::os::unix::fs::symlink(name, &tmp)
            .and_then(|()| std::fs::rename(&tmp, self.family.link()));
        if let Err(error) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(%error, link = %self.family.link().display(), "cannot point the log link at the current file");
        }
    }

    /// Deletes finished files beyond the newest `keep`.
    fn retain(&self) {
        let files = match self.family.list() {
            Ok(files) => files,
            Err(error) => {
                tracing::warn!(%error, dir = %self.family.dir.display(), "cannot list the log folder for retention");
                return;
            }
        };
        let finished = files.range(..self.seq).rev();
        for (&seq, forms) in finished.skip(self.policy.keep as usize) {
            for (exists, path) in [
                (forms.plain, self.family.path(seq)),
                (forms.gz, self.family.gz_path(seq)),
            ] {
                if exists {
                    remove_quietly(&path);
                }
            }
        }
    }

    /// A finished file found at start-up: checked (a refused one is left alone), then the plain
    /// copy of a completed compression dropped, or the file compressed now.
    fn finish_leftover(&mut self, seq: u64, forms: Forms) {
        if forms.gz {
            self.check_finished(self.family.gz_path(seq));
        }
        if !forms.plain || !self.check_finished(self.family.path(seq)) {
            return;
        }
        if forms.gz {
            remove_quietly(&self.family.path(seq));
        } else if self.policy.compress
            && let Some(compressor) = &self.compressor
        {
            compressor.compress(&self.family, seq);
        }
    }

    /// Whether a finished file found at start-up is a private file of ours (tightened to the
    /// rule if looser); a refused one is logged and left alone.
    fn check_finished(&mut self, path: PathBuf) -> bool {
        match secure_fs::inspect(&path, &self.rule) {
            Ok(()) => true,
            Err(OpenError::Refused(refusal)) => {
                self.refuse(refusal);
                false
            }
            Err(OpenError::Io(error)) => {
                tracing::warn!(%error, file = %path.display(), "cannot check an old log file");
                false
            }
        }
    }
}

/// An older layout (or a copy someone put there) may have a regular file where the symlink goes:
/// it becomes the newest numbered file, so nothing in it is lost.
fn adopt_plain_link(
    family: &Family,
    files: &mut std::collections::BTreeMap<u64, Forms>,
) -> io::Result<()> {
    let link = family.link();
    match std::fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_file() => {
            let seq = files.keys().next_back().map_or(1, |last| last + 1);
            std::fs::rename(&link, family.path(seq))?;
            files.insert(
                seq,
                Forms {
                    plain: true,
                    gz: false,
                },
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

fn remove_stale_tmp(family: &Family) -> io::Result<()> {
    let entries = match std::fs::read_dir(&family.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".tmp"))
            && family.parse(stem).is_some_and(|(_, gz)| gz)
        {
            remove_quietly(&family.dir.join(&name));
        }
    }
    Ok(())
}

/// Cuts a file (checked: regular, ours) back to its last newline (a daemon killed mid-write
/// leaves half a line), returning its length.
fn trim_partial_line(file: &File, path: &Path) -> io::Result<u64> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(0);
    }
    let len = meta.len();
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    let mut block = vec![0u8; 64 * 1024];
    let mut end = len;
    let good = loop {
        let start = end.saturating_sub(block.len() as u64);
        let window = &mut block[..(end - start) as usize];
        file.read_exact_at(window, start)?;
        if let Some(p) = memchr::memrchr(b'\n', window) {
            break start + p as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    tracing::warn!(file = %path.display(), bytes = len - good, "cutting off an unfinished last line");
    file.set_len(good)?;
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Read;

    const RULE: FileRule = FileRule {
        mode: 0o640,
        group: None,
    };

    fn policy(max_size: u64, keep: u32, compress: bool) -> LogPolicy {
        LogPolicy {
            max_size,
            keep,
            compress,
        }
    }

    fn read_all(family: &Family) -> Vec<String> {
        let mut lines = Vec::new();
        for seq in family.list().unwrap().keys() {
            let mut text = String::new();
            family
                .open(*seq)
                .unwrap()
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }

    #[test]
    fn rotates_before_the_record_that_would_overflow_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        let mut log =
            RotatingFile::open(family.clone(), policy(100, 3, false), None, RULE).unwrap();
        for i in 0..100 {
            log.push(format!("line {i:04} of the test\n").as_bytes(), 0)
                .unwrap();
        }
        log.flush().unwrap();
        let files = family.list().unwrap();
        assert_eq!(files.len(), 4, "3 kept + current: {files:?}");
        for seq in files.keys() {
            let len = std::fs::metadata(family.path(*seq)).unwrap().len();
            assert!(
                len <= 100 && len.is_multiple_of(22),
                "file {seq} has {len} bytes"
            );
        }
        let lines = read_all(&family);
        let first: usize = lines[0][5..9].parse().unwrap();
        let want: Vec<String> = (first..100)
            .map(|i| format!("line {i:04} of the test"))
            .collect();
        assert_eq!(lines, want);
        let link = std::fs::read_link(family.link()).unwrap();
        assert_eq!(dir.path().join(link), log.current_path());
    }

    #[test]
    fn rotated_files_are_compressed_off_thread_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        let (compressor, thread) = Compressor::start().unwrap();
        let mut log = RotatingFile::open(
            family.clone(),
            policy(1000, 50, true),
            Some(compressor),
            RULE,
        )
        .unwrap();
        for i in 0..1000 {
            log.push(format!("{i}\n").as_bytes(), 0).unwrap();
        }
        log.flush().unwrap();
        drop(log);
        thread.join().unwrap();
        let files = family.list().unwrap();
        let (last, finished) = files
            .iter()
            .next_back()
            .map(|(s, _)| (*s, files.len() - 1))
            .unwrap();
        assert!(finished >= 3);
        for (seq, forms) in &files {
            let want = if *seq == last {
                Forms {
                    plain: true,
                    gz: false,
                }
            } else {
                Forms {
                    plain: false,
                    gz: true,
                }
            };
            assert_eq!(*forms, want, "file {seq}");
        }
        let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(read_all(&family), want);
    }

    #[test]
    fn reopening_continues_the_newest_file_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        std::fs::write(family.path(4), "whole\ntorn li").unwrap();
        let mut log =
            RotatingFile::open(family.clone(), policy(1 << 20, 5, false), None, RULE).unwrap();
        log.push(b"next\n", 0).unwrap();
        log.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(family.path(4)).unwrap(),
            "whole\nnext\n"
        );
    }

    #[test]
    fn a_plain_file_where_the_link_goes_is_kept_as_the_newest_file() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        std::fs::write(family.link(), "from an older layout\n").unwrap();
        let mut log =
            RotatingFile::open(family.clone(), policy(1 << 20, 5, false), None, RULE).unwrap();
        log.push(b"new\n", 0).unwrap();
        log.flush().unwrap();
        assert_eq!(read_all(&family), vec!["from an older layout", "new"]);
        assert!(
            std::fs::symlink_metadata(family.link())
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    /// A tmpfs of `size` bytes on a fresh folder, unmounted on drop; `None` when this process
    /// may not mount (not root).
    struct SmallDisk {
        dir: tempfile::TempDir,
    }

    impl SmallDisk {
        fn mount(size: u64) -> Option<SmallDisk> {
            let dir = tempfile::tempdir().unwrap();
            let mounted = std::process::Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0700"),
                    "tmpfs",
                ])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            mounted.then_some(SmallDisk { dir })
        }

        /// Fills the disk with one file, whose removal is space coming back.
        fn fill(&self) -> PathBuf {
            let filler = self.dir.path().join("filler");
            let mut file = File::create(&filler).unwrap();
            let block = vec![0u8; 4096];
            while file.write_all(&block).is_ok() {}
            filler
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }

    #[test]
    fn a_full_disk_hands_back_the_lost_lines_and_writing_resumes() {
        let Some(disk) = SmallDisk::mount(64 * 1024) else {
            eprintln!(
                "cannot mount a tmpfs (not root?): the full disk is tested by the daemon's test"
            );
            return;
        };
        let family = Family::new(disk.dir.path(), "app.log");
        let filler = disk.fill();
        let mut log =
            RotatingFile::open(family.clone(), policy(1 << 20, 5, false), None, RULE).unwrap();
        log.push(b"a\n", 1).unwrap();
        log.push(b"b\n", 2).unwrap();
        let dropped = log.flush().unwrap_err();
        assert_eq!(dropped.tags, vec![1, 2]);
        assert_eq!(dropped.error.raw_os_error(), Some(libc::ENOSPC));
        assert!(!log.is_healthy());
        std::fs::remove_file(filler).unwrap();
        log.push(b"c\n", 3).unwrap();
        log.flush().unwrap();
        assert!(log.is_healthy());
        assert_eq!(std::fs::read_to_string(family.path(1)).unwrap(), "c\n");
    }

    #[test]
    fn a_planted_link_is_refused_left_alone_and_writing_goes_on_in_the_next_file() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("secret");
        std::fs::write(&target, "first\nlast line without newline").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let family = Family::new(dir.path(), "app.log");
        std::fs::write(family.path(1), "an old file\n").unwrap();
        std::fs::set_permissions(family.path(1), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&target, family.path(2)).unwrap();

        let mut log =
            RotatingFile::open(family.clone(), policy(1 << 20, 5, false), None, RULE).unwrap();
        log.push(b"new\n", 0).unwrap();
        log.flush().unwrap();
        assert!(log.is_healthy());
        let refused = log.take_refusals();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].path, family.path(2));
        assert_eq!(refused[0].why, secure_fs::Why::Symlink);
        assert!(
            log.take_refusals().is_empty(),
            "each refusal is handed over once"
        );

        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "first\nlast line without newline"
        );
        assert_eq!(std::fs::read_to_string(family.path(3)).unwrap(), "new\n");
        assert_eq!(log.current_path(), family.path(3));
        assert_eq!(
            std::fs::read_link(family.link()).unwrap(),
            Path::new("app.log.000003")
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&family.path(3)), 0o640);
        assert_eq!(
            mode(&family.path(1)),
            0o640,
            "an old file of ours is tightened"
        );

        // Rotation skips a planted next file too.
        std::os::unix::fs::symlink(&target, family.path(4)).unwrap();
        log.rotate().unwrap();
        log.push(b"after\n", 0).unwrap();
        log.flush().unwrap();
        assert_eq!(log.current_path(), family.path(5));
        assert_eq!(log.take_refusals()[0].path, family.path(4));
        assert_eq!(std::fs::read_to_string(family.path(5)).unwrap(), "after\n");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "first\nlast line without newline"
        );
    }

    #[test]
    fn stale_compressions_and_finished_copies_are_cleaned_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        std::fs::write(family.gz_tmp_path(1), "half").unwrap();
        std::fs::write(family.path(1), "one\n").unwrap();
        std::fs::write(family.path(2), "two\n").unwrap();
        let mut gz = GzEncoder::new(
            File::create(family.gz_path(2)).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"two\n").unwrap();
        gz.finish().unwrap();
        std::fs::write(family.path(3), "three\n").unwrap();
        let (compressor, thread) = Compressor::start().unwrap();
        let log = RotatingFile::open(
            family.clone(),
            policy(1 << 20, 5, true),
            Some(compressor),
            RULE,
        )
        .unwrap();
        drop(log);
        thread.join().unwrap();
        let files: Vec<(u64, Forms)> = family.list().unwrap().into_iter().collect();
        let gz = Forms {
            plain: false,
            gz: true,
        };
        assert_eq!(
            files,
            vec![
                (1, gz),
                (2, gz),
                (
                    3,
                    Forms {
                        plain: true,
                        gz: false
                    }
                )
            ]
        );
        assert!(!family.gz_tmp_path(1).exists());
        assert_eq!(read_all(&family), vec!["one", "two", "three"]);
    }
}
