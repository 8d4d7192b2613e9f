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
use std::io::{self, Read};
use std::time::SystemTime;

use memchr::memmem::Finder;

pub use filter::Filter;
pub use follow::follow;

use super::family::Family;

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
        let Some(mut reader) = family.open(seq)? else {
            continue;
        };
        let want = count - found;
        let mut ring = VecDeque::new();
        let consumed = scan(
            &mut reader,
            filter,
            finder.as_ref(),
            seq != newest,
            &mut |line| {
                if want > 0 {
                    if ring.len() == want {
                        ring.pop_front();
                    }
                    ring.push_back(line.to_vec());
                }
                Ok(())
            },
        )?;
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

/// Hands every complete line of `reader` that passes `filter` to `found`; returns the bytes
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
            if filter.matches(line) {
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
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Vec<String>);

    impl Output for Lines {
        fn line(&mut self, line: &[u8]) -> io::Result<()> {
            self.0.push(String::from_utf8_lossy(line).into_owned());
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn notice(&mut self, _: &str) {}
    }

    fn record(i: usize) -> String {
        let program = if i.is_multiple_of(3) { "worker" } else { "api" };
        format!(
            r#"{{"time":"2026-11-29T10:00:00.000Z","level":"info","msg":"line {i}","program":"{program}","instance":0,"pid":1,"requestId":"req-{}"}}"#,
            i % 10
        )
    }

    /// Files 1..=4 with 25 records each; 1 and 2 compressed; 4 unfinished (a torn last line).
    fn family() -> (tempfile::TempDir, Family) {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path(), "app.log");
        for seq in 1..=4u64 {
            let mut text: String = (0..25)
                .map(|i| record((seq as usize - 1) * 25 + i) + "\n")
                .collect();
            if seq == 4 {
                text.push_str("{\"torn");
            }
            if seq <= 2 {
                let mut gz = flate2::write::GzEncoder::new(
                    std::fs::File::create(family.gz_path(seq)).unwrap(),
                    flate2::Compression::fast(),
                );
                std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
                gz.finish().unwrap();
            } else {
                std::fs::write(family.path(seq), text).unwrap();
            }
        }
        (dir, family)
    }

    fn msgs(lines: &Lines) -> Vec<String> {
        lines
            .0
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["msg"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_last_n_lines_span_files_in_order() {
        let (_dir, family) = family();
        let mut out = Lines::default();
        let position = history(&family, &Filter::default(), Some(60), &mut out).unwrap();
        let want: Vec<String> = (40..100).map(|i| format!("line {i}")).collect();
        assert_eq!(msgs(&out), want);
        let file4 = std::fs::read(family.path(4)).unwrap();
        let torn = file4.len() - "{\"torn".len();
        assert_eq!(
            position,
            Some(Position {
                seq: 4,
                offset: torn as u64
            })
        );
    }

    #[test]
    fn filters_search_compressed_and_plain_files() {
        let (_dir, family) = family();
        let filter = Filter {
            request_id: Some("req-3".into()),
            programs: vec!["api".into()],
            ..Filter::default()
        };
        let mut all = Lines::default();
        history(&family, &filter, None, &mut all).unwrap();
        let want: Vec<String> = (0..100)
            .filter(|i| i % 10 == 3 && i % 3 != 0)
            .map(|i| format!("line {i}"))
            .collect();
        assert_eq!(msgs(&all), want);
        let mut last = Lines::default();
        history(&family, &filter, Some(2), &mut last).unwrap();
        assert_eq!(msgs(&last), want[want.len() - 2..]);
    }

    #[test]
    fn an_empty_folder_has_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let family = Family::new(dir.path().join("missing"), "app.log");
        let mut out = Lines::default();
        assert_eq!(
            history(&family, &Filter::default(), Some(5), &mut out).unwrap(),
            None
        );
    }
}
