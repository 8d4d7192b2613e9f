//! Pipe readers: one task per stdout/stderr of every instance, handing whole lines to the writer.
//!
//! A reader reads what the pipe holds (up to [`READ_SIZE`]), cuts it into lines and sends them
//! as one [`Chunk`] over the bounded channel. A read that empties the pipe is followed by a short
//! pause ([`GATHER`]) before the next one, so a child writing line by line has its output read
//! (and woken for, and written to the log) in batches of a millisecond instead of a few lines
//! at a time (the pipe leaves the reactor meanwhile, so its writes wake no one); the pipe is
//! enlarged ([`PIPE_SIZE`], and [`FLOOD_PIPE_SIZE`] once a read finds it half full) so the child
//! does not block meanwhile. A line that comes after a quiet time is read at once. When the
//! writer falls behind, `send` waits, the reader stops reading, the pipe fills and the child's
//! next `write` blocks: back-pressure instead of memory growth or loss. A line longer than
//! [`MAX_LINE`] is cut into numbered pieces (at a UTF-8 character boundary) so one runaway line
//! cannot hold unbounded memory; the text of a child that exits in the middle of a line is still
//! sent, as its last line.

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

pub use super::chunk::Chunk;
pub use super::chunk::MAX_LINE;
use super::chunk::{DATA_CAPACITY, Piece, READ_SIZE, Source, Spares};
use super::newlines::newlines;
use super::record::Stream;
use super::writer::Entry;

/// The size asked for each output pipe, so that one read ([`READ_SIZE`]) can empty it (Linux's
/// default is 64 KiB). A child writing 60 MB/s fills it in 4 ms, several [`GATHER`] pauses.
/// Kernel memory, and only while it holds output.
pub const PIPE_SIZE: usize = READ_SIZE;

/// The size a pipe grows to once a read finds it more than half full: its child writes nearly
/// faster than the pauses allow for (a Python child writing line by line fills 256 KiB in under
/// 2 ms, about one pause given the timer's millisecond ticks) and would block. 1 MiB is the most
/// an unprivileged process may ask by default (`/proc/sys/fs/pipe-max-size`). Only flooding
/// pipes grow, so a user's pipe allowance (`pipe-user-pages-soft`) is not spent on quiet ones.
pub const FLOOD_PIPE_SIZE: usize = 4 * READ_SIZE;

/// The pause after a read that emptied the pipe, while the child's next lines gather in it.
const GATHER: Duration = Duration::from_millis(1);

/// Cuts a byte stream into lines, keeping the unfinished last line for the next read.
#[derive(Debug, Default)]
pub struct Splitter {
    /// Bytes read but not yet sent: at most one unfinished line shorter than [`MAX_LINE`], plus
    /// whatever the last read appended.
    pending: Vec<u8>,
    /// Pieces already sent of the current (long) line.
    parts_sent: u32,
    /// Empty buffers for the next chunk (see [`Spares`]).
    spare: Option<Chunk>,
}

impl Splitter {
    /// Whether the next chunk would need new buffers.
    pub fn needs_spare(&self) -> bool {
        self.spare.is_none()
    }

    /// Gives the splitter an emptied chunk whose buffers the next [`Splitter::take`] reuses.
    pub fn recycle(&mut self, chunk: Chunk) {
        self.spare = Some(chunk);
    }

    /// The buffer the next read appends to, with room for one read: [`DATA_CAPACITY`] in all, as
    /// it holds at most [`MAX_LINE`] bytes here (the unfinished line). So every chunk's buffer has
    /// that one size and can be reused (a fresh one is allocated at that size at once).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        let len = self.pending.len();
        self.pending
            .reserve(DATA_CAPACITY.max(len + READ_SIZE) - len);
        &mut self.pending
    }

    /// Takes every complete line (and every full piece of an over-long one) out of the buffer.
    /// At the end of the stream (`eof`), the unfinished rest counts as a line too.
    pub fn take(&mut self, eof: bool) -> Option<Chunk> {
        let mut spare = self.spare.take().unwrap_or_default();
        let mut lines = std::mem::take(&mut spare.lines);
        let mut start = 0;
        for end in newlines(&self.pending) {
            cut(&self.pending, start..end, &mut self.parts_sent, &mut lines);
            start = end + 1;
        }
        // The unfinished rest: send full pieces now, keep less than one piece.
        start = full_pieces(
            &self.pending,
            start..self.pending.len(),
            &mut self.parts_sent,
            &mut lines,
        );
        if eof && start < self.pending.len() {
            let end = self.pending.len();
            cut(&self.pending, start..end, &mut self.parts_sent, &mut lines);
            start = end;
        }
        if lines.is_empty() {
            spare.lines = lines;
            self.spare = Some(spare);
            return None;
        }
        let mut rest = spare.data;
        rest.extend_from_slice(&self.pending[start..]);
        let mut data = std::mem::replace(&mut self.pending, rest);
        data.truncate(start);
        Some(Chunk { data, lines })
    }
}

/// Records the line at `range` of `bytes` (its newline excluded), in pieces when it is too long;
/// `parts_sent` counts the pieces of the current line already sent.
fn cut(bytes: &[u8], range: Range<usize>, parts_sent: &mut u32, lines: &mut Vec<Piece>) {
    let end = range.end;
    let start = full_pieces(bytes, range, parts_sent, lines);
    let part = if *parts_sent > 0 { *parts_sent + 1 } else { 0 };
    *parts_sent = 0;
    lines.push(Piece::new(start..end, part));
}

/// Records full pieces of the line at `range` of `bytes` while more than a piece of it is left
/// (strictly more, so the byte after each cut is known); returns where the rest starts.
fn full_pieces(
    bytes: &[u8],
    range: Range<usize>,
    parts_sent: &mut u32,
    lines: &mut Vec<Piece>,
) -> usize {
    let Range { mut start, end } = range;
    while end - start > MAX_LINE {
        let cut = char_boundary(bytes, start + MAX_LINE, start);
        *parts_sent += 1;
        lines.push(Piece::new(start..cut, *parts_sent));
        start = cut;
    }
    start
}

/// Moves a cut at `at` back to the start of a UTF-8 character (at most 3 bytes, never down to
/// `floor`, so every piece holds at least one byte). `bytes[at]` must exist.
fn char_boundary(bytes: &[u8], at: usize, floor: usize) -> usize {
    let is_continuation = |b: u8| (b & 0b1100_0000) == 0b1000_0000;
    (at.saturating_sub(3).max(floor + 1)..=at)
        .rev()
        .find(|&i| !is_continuation(bytes[i]))
        .unwrap_or(at)
}

/// Reads one pipe until it closes, sending its lines to the writer.
/// `progress` grows with every read and every chunk handed over (see [`super::Capture::finish`]).
pub async fn read_pipe(
    fd: OwnedFd,
    source: Source,
    stream: Stream,
    tx: mpsc::Sender<Entry>,
    progress: Arc<AtomicU64>,
    spares: Arc<Spares>,
) {
    // A read of less than this emptied the pipe.
    let mut pipe_size = enlarge(fd.as_fd(), PIPE_SIZE);
    let mut pipe = match pipe::Receiver::from_owned_fd(fd) {
        Ok(pipe) => pipe,
        Err(error) => {
            tracing::error!(%error, program = %source.program, "cannot read a child's pipe");
            return;
        }
    };
    let mut splitter = Splitter::default();
    // Set when the writer is gone (only if it failed): the pipe is still drained, so the child's
    // writes neither block forever nor die of SIGPIPE.
    let mut writer_gone = false;
    loop {
        if splitter.needs_spare()
            && let Some(chunk) = spares.take()
        {
            splitter.recycle(chunk);
        }
        let buffer = splitter.buffer();
        let room = buffer.capacity() - buffer.len();
        let read = pipe.read_buf(buffer).await;
        progress.fetch_add(1, Ordering::Relaxed);
        let mut emptied = false;
        let eof = match read {
            Ok(0) => true,
            Ok(n) => {
                emptied = n < room.min(pipe_size);
                if n > pipe_size / 2 && pipe_size < FLOOD_PIPE_SIZE {
                    pipe_size = enlarge(pipe.as_fd(), FLOOD_PIPE_SIZE);
                }
                false
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::warn!(%error, program = %source.program, "reading a child's output failed");
                true
            }
        };
        if let Some(chunk) = splitter.take(eof)
            && !writer_gone
        {
            let entry = Entry::Lines {
                source: source.clone(),
                stream,
                time: SystemTime::now(),
                chunk,
            };
            if tx.send(entry).await.is_err() {
                tracing::error!(program = %source.program, "the log writer is gone; discarding output");
                writer_gone = true;
            }
            progress.fetch_add(1, Ordering::Relaxed);
        }
        if eof {
            return;
        }
        if emptied {
            pipe = match gather(pipe).await {
                Ok(pipe) => pipe,
                Err(error) => {
                    tracing::error!(%error, program = %source.program, "cannot read a child's pipe");
                    return;
                }
            };
        }
    }
}

/// Waits [`GATHER`] with the pipe out of the reactor, then registers it again (which reports at
/// once what gathered). The kernel wakes whoever polls a pipe on every write into it, so a
/// registered pipe would wake the daemon (and cost the child a wake-up) per line, the very churn
/// the pause is there to save.
async fn gather(pipe: pipe::Receiver) -> std::io::Result<pipe::Receiver> {
    let fd = pipe.into_nonblocking_fd()?;
    tokio::time::sleep(GATHER).await;
    pipe::Receiver::from_owned_fd_unchecked(fd)
}

/// Asks for a pipe of `size` bytes and returns the pipe's capacity. Best effort: beyond the
/// system's limits the pipe stays as it is.
fn enlarge(fd: BorrowedFd<'_>, size: usize) -> usize {
    let wanted = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ and F_GETPIPE_SZ on a descriptor this function borrows; they change or
    // read the pipe's capacity only, and fail harmlessly (EBUSY, EPERM, EBADF) when they cannot.
    let capacity = unsafe {
        match libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, wanted) {
            -1 => libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ),
            capacity => capacity,
        }
    };
    usize::try_from(capacity).unwrap_or(0).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(splitter: &mut Splitter, bytes: &[u8], eof: bool) -> Vec<(Vec<u8>, u32)> {
        splitter.buffer().extend_from_slice(bytes);
        splitter.take(eof).map_or_else(Vec::new, |chunk| {
            chunk
                .lines
                .iter()
                .map(|p| (chunk.data[p.range()].to_vec(), p.part))
                .collect()
        })
    }

    #[test]
    fn lines_are_cut_at_newlines_and_the_rest_waits() {
        let mut s = Splitter::default();
        assert_eq!(
            feed(&mut s, b"one\ntwo\nthr", false),
            vec![(b"one".to_vec(), 0), (b"two".to_vec(), 0)]
        );
        assert_eq!(feed(&mut s, b"ee", false), vec![]);
        assert_eq!(
            feed(&mut s, b"\n\nfour\n", false),
            vec![
                (b"three".to_vec(), 0),
                (b"".to_vec(), 0),
                (b"four".to_vec(), 0)
            ]
        );
    }

    #[test]
    fn the_unfinished_last_line_is_sent_at_the_end() {
        let mut s = Splitter::default();
        assert_eq!(feed(&mut s, b"last words", false), vec![]);
        assert_eq!(feed(&mut s, b"", true), vec![(b"last words".to_vec(), 0)]);
        assert_eq!(feed(&mut s, b"", true), vec![]);
    }

    #[test]
    fn long_lines_come_out_in_numbered_pieces_that_join_back() {
        let mut s = Splitter::default();
        let long: Vec<u8> = (0..MAX_LINE * 2 + 100)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let mut got = Vec::new();
        for block in long.chunks(10_000) {
            got.extend(feed(&mut s, block, false));
        }
        got.extend(feed(&mut s, b"\nnext\n", false));
        let parts: Vec<u32> = got.iter().map(|(_, p)| *p).collect();
        assert_eq!(parts, vec![1, 2, 3, 0]);
        assert!(got.iter().all(|(bytes, _)| bytes.len() <= MAX_LINE));
        let joined: Vec<u8> = got[..3].iter().flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(joined, long);
        assert_eq!(got[3].0, b"next");
    }

    #[test]
    fn a_long_line_arriving_at_once_is_split_too() {
        let mut s = Splitter::default();
        let mut bytes = vec![b'x'; MAX_LINE + 1];
        bytes.push(b'\n');
        let got = feed(&mut s, &bytes, false);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.len(), got[0].1), (MAX_LINE, 1));
        assert_eq!((got[1].0.len(), got[1].1), (1, 2));
    }

    #[test]
    fn pieces_never_cut_a_character_in_two() {
        let mut s = Splitter::default();
        let text = "é".repeat(MAX_LINE); // 2 bytes each
        let mut bytes = b"x".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        let got = feed(&mut s, &bytes, false);
        assert!(got.len() >= 2);
        for (piece, _) in &got {
            assert!(std::str::from_utf8(piece).is_ok());
        }
    }
}
