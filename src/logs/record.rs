//! One line of a child's output (or one daemon event) turned into one JSON record of `app.log`.
//!
//! Every record starts with the same keys in the same order — `time`, `level`, `msg`, `program`,
//! `instance`, `pid`, then `requestId` when there is one — so readers can find them cheaply and
//! people can read the raw files. A child line that is a JSON object keeps its own fields; the
//! daemon only adds where the line came from and normalises the few conventions that differ
//! between loggers (pino's numeric levels and epoch times, `message`, upper-case levels,
//! `timestamp`). Anything else is wrapped: `msg` is the text, the level comes from the stream.

mod child_object;
mod level;

use serde_json::Value;

use child_object::{format_object, parse_object};
pub use level::{Level, UnknownLevel};

/// Which pipe of the child a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The level of a line that does not name one.
    fn default_level(self) -> Level {
        match self {
            Stream::Stdout => Level::Info,
            Stream::Stderr => Level::Error,
        }
    }
}

/// Where a record came from: the fields the daemon adds to every record.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub program: &'a str,
    pub instance: u32,
    /// `None` for events of an instance that has no process.
    pub pid: Option<u32>,
}

/// The parts of a line's record that only depend on where and when it was read, made once per
/// read (a thousand lines or more in a flood) instead of once per line: `{"time":…,"level":…,
/// "msg":` and `,"program":…,"instance":…,"pid":…` (with `,"stream":"stderr"` for stderr).
#[derive(Debug)]
pub struct Frame<'a> {
    stream: Stream,
    origin: Origin<'a>,
    time: &'a str,
    /// The head of a text line's record (the stream's level).
    head: Vec<u8>,
    /// The tail of a text line's record, the object still open.
    tail: Vec<u8>,
}

impl<'a> Frame<'a> {
    /// The frame of the lines of `stream` from `origin`, read at `time` (formatted).
    pub fn new(stream: Stream, origin: Origin<'a>, time: &'a str) -> Frame<'a> {
        let mut head = Vec::with_capacity(64);
        write_head(&mut head, time, stream.default_level());
        let mut tail = Vec::with_capacity(64);
        write_tail(&mut tail, origin);
        if stream == Stream::Stderr {
            tail.extend_from_slice(b",\"stream\":\"stderr\"");
        }
        Frame {
            stream,
            origin,
            time,
            head,
            tail,
        }
    }

    /// Appends the record for one line (without its newline) to `out`, followed by `\n`, and
    /// returns the record's level. `part` numbers the pieces of a line that was too long for one
    /// record (1, 2, ...); 0 for a whole line.
    pub fn format(&self, out: &mut Vec<u8>, line: &[u8], part: u32) -> Level {
        if part > 0 {
            // A piece of a long line: every byte is the line's (a `\r` at the cut is not a line
            // end), so the pieces' messages join back to the line.
            return self.format_text(out, line, part);
        }
        let line = trim_line_end(line);
        if let Some(object) = parse_object(line) {
            return format_object(out, object, self.stream, self.origin, self.time);
        }
        self.format_text(out, line, part)
    }

    /// The record of a line (or piece) that is not a JSON object: the text is `msg`.
    fn format_text(&self, out: &mut Vec<u8>, line: &[u8], part: u32) -> Level {
        out.reserve(self.head.len() + line.len() + self.tail.len() + 16);
        out.extend_from_slice(&self.head);
        if is_plain(line) {
            out.push(b'"');
            out.extend_from_slice(line);
            out.push(b'"');
        } else {
            match std::str::from_utf8(line) {
                Ok(text) => json_str(out, text),
                Err(_) => json_str(out, &String::from_utf8_lossy(line)),
            }
        }
        out.extend_from_slice(&self.tail);
        if part > 0 {
            out.extend_from_slice(b",\"part\":");
            write_number(out, part);
        }
        out.extend_from_slice(b"}\n");
        self.stream.default_level()
    }
}

/// Appends the record for one line of a child's output (without its newline) to `out`, followed
/// by `\n`, and returns the record's level; see [`Frame::format`], which the writer uses to
/// format many lines of one read.
pub fn format_line(
    out: &mut Vec<u8>,
    line: &[u8],
    stream: Stream,
    part: u32,
    origin: Origin<'_>,
    time: &str,
) -> Level {
    Frame::new(stream, origin, time).format(out, line, part)
}

/// Appends the record of a daemon event (`"source":"svc"`) to `out`.
pub fn format_event(out: &mut Vec<u8>, msg: &str, level: Level, origin: Origin<'_>, time: &str) {
    write_head(out, time, level);
    json_str(out, msg);
    write_tail(out, origin);
    out.extend_from_slice(b",\"source\":\"svc\"}\n");
}

/// `{"time":"...","level":"...","msg":` — the caller writes the message next.
fn write_head(out: &mut Vec<u8>, time: &str, level: Level) {
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"msg\":");
}

/// `,"program":...,"instance":...,"pid":...` — the object stays open.
fn write_tail(out: &mut Vec<u8>, origin: Origin<'_>) {
    out.extend_from_slice(b",\"program\":");
    json_str(out, origin.program);
    out.extend_from_slice(b",\"instance\":");
    write_number(out, origin.instance);
    out.extend_from_slice(b",\"pid\":");
    match origin.pid {
        Some(pid) => write_number(out, pid),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_number(out: &mut Vec<u8>, number: u32) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{number}");
}

/// `text` as a JSON string. Most lines need no escaping: they are copied as they are, after a
/// check that runs over 16 bytes at a time (serde_json looks at each byte in turn).
fn json_str(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        return;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Whether `bytes` are printable ASCII without `"` or `\\`: most lines, which are then valid UTF-8
/// and their own JSON string, found in one pass instead of a UTF-8 check and an escape check.
fn is_plain(bytes: &[u8]) -> bool {
    every_byte(bytes, |b| {
        (b.wrapping_sub(0x20) < 0x60) & (b != b'"') & (b != b'\\')
    })
}

/// Whether a JSON string of `bytes` needs an escape: a control character, `"` or `\\` (what
/// serde_json escapes; other characters, non-ASCII included, are written as they are).
fn needs_escape(bytes: &[u8]) -> bool {
    !every_byte(bytes, |b| (b >= 0x20) & (b != b'"') & (b != b'\\'))
}

/// Whether `ok` holds for every byte, checked 16 bytes at a time: a block of known length has
/// no early exit inside, so the compiler checks it with one vector compare per condition (a
/// short line is padded with spaces, the end of a long one checked as the last 16 bytes).
fn every_byte(bytes: &[u8], ok: impl Fn(u8) -> bool + Copy) -> bool {
    const BLOCK: usize = 16;
    let block_ok = |block: &[u8; BLOCK]| block.iter().fold(true, |all, &b| all & ok(b));
    if bytes.len() < BLOCK {
        let mut padded = [b' '; BLOCK];
        padded[..bytes.len()].copy_from_slice(bytes);
        return block_ok(&padded);
    }
    let (blocks, _) = bytes.as_chunks::<BLOCK>();
    let last = bytes.last_chunk::<BLOCK>().unwrap_or(&[b' '; BLOCK]);
    blocks.iter().all(block_ok) && block_ok(last)
}

fn json_value(out: &mut Vec<u8>, value: &Value) {
    let _ = serde_json::to_writer(&mut *out, value);
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests;
