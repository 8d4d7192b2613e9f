//! Reading the logs back: the history (`svc logs`, `-n`, filters), following (`--follow`) and
//! showing records to people ([`render`]). Reads the files directly; no daemon needed.
//!
//! The history of a log is its numbered files in order, the compressed ones included
//! ([`Family::open`] reads either form). `-n N` reads newest-first and stops once it has N lines;
//! without a limit (`--request-id`, `--since`) every file is scanned, several at a time, and the
//! lines come out in order. A [`Position`] says where the history ended, so [`follow`] continues
//! exactly there: no line twice, none missed.

mod filter;
mod follow;
pub mod render;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

use memchr::memmem::Finder;

pub use filter::Filter;
pub use follow::follow;

use super::family::{Family, Opened};

/// Bytes read at a time while scanning a file.
const BLOCK: usize = 1 << 20;

/// Where reading stopped: after `offset` (uncompressed) bytes of file number `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub offset: u64,
}

/// Where the records go.
pub trait Output {
    /// One matching record, without its newline.
    ///
    /// # Errors
    /// The output is closed (a pipe to `head`), or failed.
    fn line(&mut self, line: &[u8]) -> io::Result<()>;

    /// Everything so far should be visible now (following waits after this).
    ///
    /// # Errors
    /// As for [`Output::line`].
    fn flush(&mut self) -> io::Result<()>;

    /// Something the user should know that is not a record (a gap while following).
    fn notice(&mut self, text: &str);
}

/// Writes the matching records of `family` to `out`, oldest first: the last `last` of them, or
/// all when `last` is `None`. Returns where the newest file ended (`None`: no file yet).
///
/// # Errors
/// A file cannot be listed, opened or read, or `out` fails.
pub fn history(
    family: &Family,
    filter: &Filter,
    last: Option<usize>,
    out: &mut dyn Output,
) -> io::Result<Option<Position>> {
    let files = family.list()?;
    let Some(&newest) = files.keys().next_back() else {
        return Ok(None);
    };
    let since = filter.since.as_deref().and_then(super::time::parse);
    let seqs: Vec<u64> = files
        .keys()
        .copied()
        .filter(|&seq| seq == newest || !written_before(family, seq, since))
        .collect();
    match last {
        Some(count) => last_lines(family, filter, &seqs, newest, count, out),
        None => all_lines(family, filter, &seqs, newest, out),
    }
}

/// Reads newest-first until `count` records are found; prints them in order.
fn last_lines(
    family: &Family,
    filter: &Filter,
    seqs: &[u64],
    newest: u64,
    count: usize,
    out: &mut dyn Output,
) -> io::Result<Option<Position>> {
    let needle = filter.needle();
    let finder = needle.as_deref().map(Finder::new);
    let mut groups: Vec<VecDeque<Vec<u8>>> = Vec::new();
    let mut found = 0;
    let mut position = None;
    for &seq in seqs.iter().rev() {
        if found >= count && seq != newest {
            break;
        }
        let Some(reader) = family.open(seq)? else {
            continue;
        };
        let want = count - found;
        let finished = seq != newest;
        let (ring, consumed) = match reader {
            Opened::Plain(file) => last_of_plain(&file, filter, finder.as_ref(), want, finished)?,
            mut gz @ Opened::Gz(_) => {
                let mut ring = VecDeque::new();
                let consumed = scan(&mut gz, filter, finder.as_ref(), finished, &mut |line| {
                    if want > 0 {
                        if ring.len() == want {
                            ring.pop_front();
                        }
                        ring.push_back(line.to_vec());
                    }
                    Ok(())
                })?;
                (ring, consumed)
            }
        };
        if seq == newest {
            position = Some(Position {
                seq,
                offset: consumed,
            });
        }
        found += ring.len();
        groups.push(ring);
    }
    for line in groups.iter().rev().flatten() {
        out.line(line)?;
    }
    Ok(position.or(Some(Position {
        seq: newest,
        offset: 0,
    })))
}

/// The last `want` matching records of an uncompressed file, read backwards from its end (so
/// `-n 50` costs the same however large the file), and where its last complete line ends.
/// An unfinished file's half-written last line is not a record yet.
fn last_of_plain(
    file: &File,
    filter: &Filter,
    needle: Option<&Finder<'_>>,
    want: usize,
    finished: bool,
) -> io::Result<(VecDeque<Vec<u8>>, u64)> {
    let mut found = VecDeque::new();
    let mut pos = file.metadata()?.len();
    let mut end = None;
    // The start of the earliest block read, up to its first newline: the end of a line that
    // began in the block before it.
    let mut rest: Vec<u8> = Vec::new();
    while pos > 0 && (found.len() < want || end.is_none()) {
        let start = pos.saturating_sub(BLOCK as u64);
        let mut block = vec![0u8; (pos - start) as usize];
        file.read_exact_at(&mut block, start)?;
        block.extend_from_slice(&rest);
        pos = start;
        let upto = match end {
            Some(_) => block.len(),
            None if finished => block.len(),
            None => match memchr::memrchr(b'\n', &block) {
                Some(last) => last + 1,
                None if start > 0 => {
                    rest = block;
                    continue;
                }
                None => 0,
            },
        };
        if end.is_none() {
            end = Some(start + upto as u64);
        }
        let from = if start == 0 {
            0
        } else {
            match memchr::memchr(b'\n', &block[..upto]) {
                Some(first) => first + 1,
                None => {
                    rest = block;
                    continue;
                }
            }
        };
        let matching: Vec<&[u8]> = block[from..upto]
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter(|line| needle.is_none_or(|f| f.find(line).is_some()) && filter.matches(line))
            .collect();
        for line in matching.iter().rev().take(want.saturating_sub(found.len())) {
            found.push_front(line.to_vec());
        }
        block.truncate(from);
        rest = block;
    }
    Ok((found, end.unwrap_or(0)))
}

/// Scans every file, several at once (decompression is the cost), printing in order.
fn all_lines(
    family: &Family,
    filter: &Filter,
    seqs: &[u64],
    newest: u64,
    out: &mut dyn Output,
) -> io::Result<Option<Position>> {
    let needle = filter.needle();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let mut position = Position {
        seq: newest,
        offset: 0,
    };
    for window in seqs.chunks(threads) {
        let results: Vec<io::Result<Option<FileMatches>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = window
                .iter()
                .map(|&seq| {
                    let needle = needle.as_deref();
                    scope.spawn(move || matches_of(family, seq, seq != newest, filter, needle))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("a log reader thread panicked")))
                })
                .collect()
        });
        for (&seq, result) in window.iter().zip(results) {
            let Some((lines, consumed)) = result? else {
                continue;
            };
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                out.line(line)?;
            }
            if seq == newest {
                position.offset = consumed;
            }
        }
    }
    Ok(Some(position))
}

/// The matching records of one file, newline-separated, and the bytes consumed.
type FileMatches = (Vec<u8>, u64);

/// The matching records of file `seq` (`None`: it is gone).
fn matches_of(
    family: &Family,
    seq: u64,
    finished: bool,
    filter: &Filter,
    needle: Option<&[u8]>,
) -> io::Result<Option<FileMatches>> {
    let Some(mut reader) = family.open(seq)? else {
        return Ok(None);
    };
    let finder = needle.map(Finder::new);
    let mut lines = Vec::new();
    let consumed = scan(
        &mut reader,
        filter,
        finder.as_ref(),
        finished,
        &mut |line| {
            lines.extend_from_slice(line);
            lines.push(b'\n');
            Ok(())
        },
    )?;
    Ok(Some((lines, consumed)))
}

/// Whether the finished file `seq` was last written before `since` (so all its records are older).
fn written_before(family: &Family, seq: u64, since: Option<SystemTime>) -> bool {
    let Some(since) = since else {
        return false;
    };
    let modified = std::fs::metadata(family.path(seq))
        .or_else(|_| std::fs::metadata(family.gz_path(seq)))
        .and_then(|m| m.modified());
    modified.is_ok_and(|m| m < since)
}

/// Hands every complete non-empty line of `reader` that passes `filter` to `found`; returns the bytes
/// consumed, up to the end of the last complete line. A `finished` file's unterminated last
/// line counts too. With a `needle`, only lines containing it are parsed.
///
/// # Errors
/// Reading fails, or `found` does.
pub fn scan(
    reader: &mut dyn Read,
    filter: &Filter,
    needle: Option<&Finder<'_>>,
    finished: bool,
    found: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    let mut consumed = 0u64;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if finished && filled > 0 {
                let line = &buf[..filled];
                if needle.is_none_or(|f| f.find(line).is_some()) && filter.matches(line) {
                    found(line)?;
                }
                consumed += filled as u64;
            }
            return Ok(consumed);
        }
        filled += n;
        let Some(last) = memchr::memrchr(b'\n', &buf[..filled]) else {
            continue;
        };
        lines_in(&buf[..=last], filter, needle, found)?;
        consumed += last as u64 + 1;
        buf.copy_within(last + 1..filled, 0);
        filled -= last + 1;
    }
}

/// The matching lines of `block` (which ends with a newline).
fn lines_in(
    block: &[u8],
    filter: &Filter,
    needle: Option<&Finder<'_>>,
    found: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let Some(finder) = needle else {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', block) {
            let line = &block[start..end];
            // A blank line is no record (`-n` on plain files skips them too).
            if !line.is_empty() && filter.matches(line) {
                found(line)?;
            }
            start = end + 1;
        }
        return Ok(());
    };
    let mut from = 0;
    while let Some(hit) = finder.find(&block[from..]) {
        let at = from + hit;
        let start = memchr::memrchr(b'\n', &block[..at]).map_or(0, |p| p + 1);
        let end = at + memchr::memchr(b'\n', &block[at..]).unwrap_or(block.len() - at);
        let line = &block[start..end];
        if filter.matches(line) {
            found(line)?;
        }
        from = end + 1;
        if from >= block.len() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
