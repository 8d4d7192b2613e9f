//! `svc logs --follow`: like `tail -F`, across rotations, with no gap and no repeat.
//!
//! The follower holds the file it reads open and remembers its number. At the end of it, it asks
//! whether a newer file exists (the `app.log` symlink points past it, or file N+1 is there). The
//! writer creates file N+1 only after its last write to file N, so once N+1 exists one more read
//! of N to its end gets everything, and N+1 is read from its first byte. Nothing is renamed, so
//! there is nothing to race with; only retention deleting files the follower has not reached yet
//! (it fell more than `keep` files behind) makes a gap, and that is reported.
//!
//! It wakes on file-system events (`notify`: inotify on Linux) and, in case an event is missed or
//! the folder does not exist yet, on a slow tick.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::mpsc;
use std::time::Duration;

use memchr::memmem::Finder;
use notify::{RecursiveMode, Watcher};

use super::{Filter, Output, Position, scan};
use crate::logs::family::{self, Family, Opened};

/// How often to look without an event (a missed event costs at most this much delay).
const TICK: Duration = Duration::from_secs(1);

/// How often to look while no file-system watch is in place.
const POLL: Duration = Duration::from_millis(200);

/// Follows `family` from `start` (the end of the history; `None`: from its first file), writing
/// matching records to `out` until `out` fails (a closed pipe) or reading fails.
///
/// # Errors
/// Reading a log file fails, or `out` does.
pub fn follow(
    family: &Family,
    start: Option<Position>,
    filter: &Filter,
    out: &mut dyn Output,
) -> io::Result<()> {
    let mut follower = Follower::new(family.clone(), start);
    let needle = filter.needle();
    let finder = needle.as_deref().map(Finder::new);
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = None;
    loop {
        if watcher.is_none() {
            watcher = watch(family, tx.clone());
        }
        follower.poll(filter, finder.as_ref(), out)?;
        out.flush()?;
        let wait = if watcher.is_some() { TICK } else { POLL };
        let _ = rx.recv_timeout(wait);
        while rx.try_recv().is_ok() {}
    }
}

/// Watches the log folder; `None` when it does not exist (yet) or cannot be watched.
fn watch(family: &Family, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })
    .ok()?;
    watcher
        .watch(&family.dir, RecursiveMode::NonRecursive)
        .ok()?;
    Some(watcher)
}

/// The reading position of a follow.
struct Follower {
    family: Family,
    /// The file being read (`None` until the first file exists).
    seq: Option<u64>,
    /// Bytes of it already consumed.
    offset: u64,
    reader: Option<Opened>,
}

impl Follower {
    fn new(family: Family, start: Option<Position>) -> Follower {
        Follower {
            family,
            seq: start.map(|p| p.seq),
            offset: start.map_or(0, |p| p.offset),
            reader: None,
        }
    }

    /// Writes every complete record written since the last call.
    fn poll(
        &mut self,
        filter: &Filter,
        needle: Option<&Finder<'_>>,
        out: &mut dyn Output,
    ) -> io::Result<()> {
        loop {
            let Some(seq) = self.current()? else {
                return Ok(());
            };
            if self.reader.is_none() {
                match self.family.open(seq)? {
                    Some(mut reader) => {
                        skip(&mut reader, self.offset)?;
                        self.reader = Some(reader);
                    }
                    None => {
                        // Deleted by retention before we got to it.
                        if !self.advance(seq, out)? {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            self.read(filter, needle, false, out)?;
            if !self.newer_exists(seq) {
                return Ok(());
            }
            // Finished: whatever was written before the next file started is there now.
            self.read(filter, needle, true, out)?;
            if !self.advance(seq, out)? {
                return Ok(());
            }
        }
    }

    /// The file to read: the one in hand, else the oldest there is.
    fn current(&mut self) -> io::Result<Option<u64>> {
        if self.seq.is_none() {
            self.seq = self.family.list()?.keys().next().copied();
            self.offset = 0;
        }
        Ok(self.seq)
    }

    fn read(
        &mut self,
        filter: &Filter,
        needle: Option<&Finder<'_>>,
        finished: bool,
        out: &mut dyn Output,
    ) -> io::Result<()> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        // A compressed file is complete: its last line counts even without a newline.
        let finished = finished || matches!(reader, Opened::Gz(_));
        let consumed = scan(reader, filter, needle, finished, &mut |line| out.line(line))?;
        self.offset += consumed;
        if !finished && let Opened::Plain(file) = reader {
            // A line may sit half-written after the last newline: read it again next time.
            file.seek(SeekFrom::Start(self.offset))?;
        }
        Ok(())
    }

    /// Whether a file newer than `seq` exists, which means `seq` is complete.
    fn newer_exists(&self, seq: u64) -> bool {
        let linked = std::fs::read_link(self.family.link())
            .ok()
            .and_then(|target| {
                let name = target.file_name()?.to_str()?.to_owned();
                self.family.parse(&name)
            })
            .is_some_and(|(linked, _)| linked > seq);
        linked
            || family::exists(&self.family.path(seq + 1))
            || family::exists(&self.family.gz_path(seq + 1))
    }

    /// Moves on to the file after `seq`, reporting files that retention deleted before they were
    /// read. Returns false when there is nothing to move on to (yet).
    fn advance(&mut self, seq: u64, out: &mut dyn Output) -> io::Result<bool> {
        let read_it = self.reader.is_some();
        let next = if family::exists(&self.family.path(seq + 1))
            || family::exists(&self.family.gz_path(seq + 1))
        {
            Some(seq + 1)
        } else {
            let files = self.family.list()?;
            match files.range(seq + 1..).next() {
                Some((&next, _)) => Some(next),
                // `seq` vanished and only older numbers exist: the logs were deleted and the
                // numbering started again.
                None if !read_it => files.keys().next().copied().filter(|&first| first < seq),
                None => None,
            }
        };
        self.reader = None;
        let Some(next) = next else {
            return Ok(false);
        };
        if next < seq {
            out.notice("the log files were replaced; following the new ones from their start");
        } else if next - seq > u64::from(read_it) {
            out.notice(&format!(
                "skipped {} log file(s) deleted by retention before they were read",
                next - seq - u64::from(read_it)
            ));
        }
        self.seq = Some(next);
        self.offset = 0;
        Ok(true)
    }
}

/// Skips the first `offset` bytes of a file being opened again.
fn skip(reader: &mut Opened, offset: u64) -> io::Result<()> {
    match reader {
        Opened::Plain(file) => {
            file.seek(SeekFrom::Start(offset))?;
        }
        Opened::Gz(decoder) => {
            let skipped = io::copy(&mut decoder.by_ref().take(offset), &mut io::sink())?;
            if skipped < offset {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a compressed log file is shorter than what was already read of it",
                ));
            }
        }
    }
    Ok(())
}
