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
//!   [`super::family`]); nothing is renamed, so readers never see a file change its name. In a
//!   flood the link moves when the writer catches up ([`RotatingFile::flush`]) or after
//!   [`LINK_LAG`], not at each of many rotations a second: creating a link costs as much as
//!   creating the file, and no `tail -F` follows files that last milliseconds anyway.
//! - Finished files are compressed on another thread ([`Compressor`]), so the writer never waits
//!   for gzip; the next file is made ahead on another ([`super::ahead`]), so a rotation does not
//!   wait for the file system to find an inode.
//! - A failed write (disk full, file gone) is cut back to the last whole line, the lines that
//!   did not make it are handed back to the caller to count ([`Dropped`]), and the next write
//!   reopens the file: writing resumes by itself when space returns.
//! - Files are opened without following a link, new ones created exclusively, and each handle is
//!   checked (a regular file of ours with one link) before it is cut, appended to or rotated
//!   ([`secure_fs::open_append`]). A file that fails the check (a link someone planted, a file
//!   of another user) is refused: left alone, logged, handed to the caller
//!   ([`RotatingFile::take_refusals`]), and writing goes on in the next numbered file. The
//!   checks run when a file is opened, not per record.

mod leftovers;

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::ahead::{Ahead, Maker};
use super::family::{Family, remove_quietly};
use super::gzip::Compressor;
use crate::config::LogPolicy;
use crate::secure_fs::{self, FileRule, OpenError, Refusal};
use leftovers::{adopt_plain_link, remove_stale_tmp, trim_partial_line};

/// Buffered bytes that trigger a write even while more records are coming.
const FLUSH_BYTES: usize = 256 * 1024;

/// Writes at least this large reserve their blocks first (see [`preallocate`]).
const PREALLOCATE_BYTES: usize = FLUSH_BYTES;

/// How long the link may point at a finished file while the writer is still busy.
const LINK_LAG: Duration = Duration::from_millis(100);

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

/// The threads logs hand work to, so the writer does not wait for it (either may be absent).
#[derive(Clone, Default)]
pub struct Helpers {
    pub compressor: Option<Compressor>,
    pub maker: Option<Maker>,
}

/// One log being written: its numbered files, the current one open for appending.
pub struct RotatingFile {
    family: Family,
    policy: LogPolicy,
    /// The number of the file being written.
    seq: u64,
    /// The finished files, oldest first, for retention (listed when the log is opened).
    finished: VecDeque<u64>,
    /// When the link last moved, and whether it points at a finished file.
    link_moved: Instant,
    link_behind: bool,
    file: Option<File>,
    /// Bytes in the current file, always at a line boundary.
    len: u64,
    /// Records not yet written, and one caller tag per record.
    buf: Vec<u8>,
    tags: Vec<u32>,
    compressor: Option<Compressor>,
    /// The next file, made ahead once the log rotates.
    ahead: Option<Ahead>,
    /// Whether the last write succeeded.
    healthy: bool,
    /// Whether the last rotation failed (so the warning is logged once).
    rotation_failing: bool,
    /// Whether the file system reserves blocks ahead ([`preallocate`]); off once it refused.
    preallocating: bool,
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
        helpers: Helpers,
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
        let ahead = helpers
            .maker
            .map(|maker| maker.for_log(family.dir.clone(), rule));
        let mut log = RotatingFile {
            family,
            policy,
            seq,
            finished: files.range(..seq).map(|(&seq, _)| seq).collect(),
            link_moved: Instant::now(),
            link_behind: false,
            file: None,
            len: 0,
            buf: Vec::with_capacity(64 * 1024),
            tags: Vec::new(),
            compressor: helpers.compressor,
            ahead,
            healthy: true,
            rotation_failing: false,
            preallocating: true,
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

    /// Appends one record (a whole line, newline included); see [`RotatingFile::push_records`].
    ///
    /// # Errors
    /// [`Dropped`]: the records that could not be written (this one is kept for the next try).
    pub fn push(&mut self, record: &[u8], tag: u32) -> Result<(), Dropped> {
        self.push_records(record, &[record.len()], tag)
    }

    /// Appends records laid back to back in `records` (whole lines, newlines included), record
    /// `i` ending at `ends[i]`, all pushed with `tag`. Rotates first when a record would take the
    /// file past `max_size`. A small run is buffered; a large one is written straight from
    /// `records` (after what was buffered), so a flood is not copied once more on its way.
    ///
    /// # Errors
    /// [`Dropped`]: the records that could not be written (a record not yet written when the
    /// file failed is kept for the next try).
    pub fn push_records(
        &mut self,
        records: &[u8],
        ends: &[usize],
        tag: u32,
    ) -> Result<(), Dropped> {
        let mut result = Ok(());
        let (mut next, mut start) = (0, 0);
        while next < ends.len() {
            let mut fit = self.fitting(&ends[next..], start);
            if fit == 0 && self.len + self.buf.len() as u64 > 0 {
                let flushed = self.write_buffered();
                if flushed.is_ok() {
                    self.rotate_now();
                }
                result = Dropped::merge(result, flushed);
                fit = self.fitting(&ends[next..], start);
            }
            // A record larger than a whole file goes alone into one (or, when the rotation
            // failed, into the current file, and the next record tries again).
            let fit = fit.max(1);
            let end = ends[next + fit - 1];
            result = Dropped::merge(result, self.append(&records[start..end], fit, tag));
            (next, start) = (next + fit, end);
        }
        self.move_link_when_due();
        result
    }

    /// How many of the records ending at `ends` (counted from byte `start`) fit into the current
    /// file by `max_size`.
    fn fitting(&self, ends: &[usize], start: usize) -> usize {
        if self.policy.max_size == 0 {
            return ends.len();
        }
        let room = (self.policy.max_size).saturating_sub(self.len + self.buf.len() as u64);
        ends.partition_point(|&end| (end - start) as u64 <= room)
    }

    /// Appends `count` records laid out in `run` to the current file: into the buffer while it
    /// stays below [`FLUSH_BYTES`], else the buffer and then `run` are written.
    fn append(&mut self, run: &[u8], count: usize, tag: u32) -> Result<(), Dropped> {
        if self.buf.len() + run.len() < FLUSH_BYTES {
            self.buf.extend_from_slice(run);
            self.tags.extend(std::iter::repeat_n(tag, count));
            return Ok(());
        }
        let flushed = self.write_buffered();
        let written = self
            .write_lines(run)
            .map_err(|(kept_lines, error)| Dropped {
                tags: vec![tag; count.saturating_sub(kept_lines)],
                error,
            });
        self.healthy = written.is_ok();
        Dropped::merge(flushed, written)
    }

    /// Writes what is buffered and points the link at the current file: the writer has caught
    /// up.
    ///
    /// # Errors
    /// [`Dropped`]: the records that did not make it; the file keeps only whole lines.
    pub fn flush(&mut self) -> Result<(), Dropped> {
        let result = self.write_buffered();
        if self.link_behind {
            self.update_link();
        }
        result
    }

    /// Writes what is buffered; see [`RotatingFile::flush`].
    fn write_buffered(&mut self) -> Result<(), Dropped> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.write_lines(&buf);
        buf.clear();
        self.buf = buf;
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
        self.write_buffered()?;
        if self.len > 0 {
            self.rotate_now();
        }
        self.flush()
    }

    /// Starts the next numbered file. On failure the current file goes on (over its size) and the
    /// next record retries.
    fn rotate_now(&mut self) {
        // A file made ahead is empty; one opened may hold lines already.
        let opened = match self.name_ahead(self.seq + 1) {
            Some(file) => Ok((self.seq + 1, file, 0)),
            None => self.open_from(self.seq + 1).map(|(seq, file)| {
                let len = file.metadata().map_or(0, |m| m.len());
                (seq, file, len)
            }),
        };
        let (next, file, len) = match opened {
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
        self.len = len;
        self.file = Some(file);
        if let Some(ahead) = self.ahead.as_ref().filter(|_| self.policy.max_size > 0) {
            ahead.order();
        }
        self.finished.push_back(finished);
        self.link_behind = true;
        self.move_link_when_due();
        if self.policy.compress
            && let Some(compressor) = &self.compressor
        {
            compressor.compress(&self.family, finished);
        }
        self.retain();
    }

    /// The file made ahead, named file `seq`: `None` when none is ready or the name is taken
    /// (the rotation then opens `seq` the usual way, which checks what is there).
    fn name_ahead(&mut self, seq: u64) -> Option<File> {
        let file = self.ahead.as_ref()?.take()?;
        match secure_fs::give_name(&file, &self.family.path(seq)) {
            Ok(()) => Some(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
            Err(error) => {
                tracing::debug!(%error, dir = %self.family.dir.display(), "cannot name a log file made ahead; rotations make their own");
                self.ahead = None;
                None
            }
        }
    }

    /// Writes whole lines to the current file; on failure returns how many of them are in it
    /// (a partial last line is cut off again).
    fn write_lines(&mut self, buf: &[u8]) -> Result<(), (usize, io::Error)> {
        self.ensure_open().map_err(|e| (0, e))?;
        let len = self.len;
        let Some(file) = self.file.as_mut() else {
            return Err((0, io::Error::other("log file not open")));
        };
        if self.preallocating && buf.len() >= PREALLOCATE_BYTES {
            self.preallocating = preallocate(file, len, buf.len());
        }
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

    /// Moves a link left behind by a rotation once it has been [`LINK_LAG`] since it last moved.
    fn move_link_when_due(&mut self) {
        if self.link_behind && self.link_moved.elapsed() >= LINK_LAG {
            self.update_link();
        }
    }

    /// Points `base` at the current file (atomically: a new symlink renamed over the old).
    fn update_link(&mut self) {
        self.link_moved = Instant::now();
        self.link_behind = false;
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

    /// Deletes finished files beyond the newest `keep` (both forms: a compression may be under
    /// way). The files are known from the listing at opening and the rotations since, so a
    /// rotation does not read the folder.
    fn retain(&mut self) {
        while self.finished.len() > self.policy.keep as usize
            && let Some(seq) = self.finished.pop_front()
        {
            remove_quietly(&self.family.path(seq));
            remove_quietly(&self.family.gz_path(seq));
        }
    }
}

/// Reserves the blocks for `len` bytes at `at`, the file's end, before a large write: the file
/// system then maps them in one go instead of page by page as the write fills them (on ext4, a
/// 512 KiB write took a third less time, and the same counting the flush to disk). The size is
/// kept and exactly what is written is reserved, so no space is held beyond the end. Returns
/// whether to go on reserving: not where the file system cannot. A failure (a full disk) only
/// gives back what it may have reserved; the write then finds out for itself.
fn preallocate(file: &File, at: u64, len: usize) -> bool {
    use nix::fcntl::{FallocateFlags, fallocate};
    let (Ok(offset), Ok(len)) = (at.try_into(), len.try_into()) else {
        return true;
    };
    match fallocate(file, FallocateFlags::FALLOC_FL_KEEP_SIZE, offset, len) {
        Ok(()) => true,
        Err(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::ENOSYS) => false,
        Err(_) => {
            let _ = file.set_len(at);
            true
        }
    }
}

#[cfg(test)]
mod tests;
