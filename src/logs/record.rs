//! One line of a child's output (or one daemon event) turned into one JSON record of `app.log`.
//!
//! Every record starts with the same keys in the same order — `time`, `level`, `msg`, `program`,
//! `instance`, `pid`, then `requestId` when there is one — so readers can find them cheaply and
//! people can read the raw files. A child line that is a JSON object keeps its own fields; the
//! daemon only adds where the line came from and normalises the few conventions that differ
//! between loggers (pino's numeric levels and epoch times, `message`, upper-case levels,
//! `timestamp`). Anything else is wrapped: `msg` is the text, the level comes from the stream.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The severity of a record, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Reads the level names loggers use, in any case (`WARNING`, `fatal`, `Err`...).
    pub fn parse_loose(text: &str) -> Option<Level> {
        let level = match text.trim().to_ascii_lowercase().as_str() {
            "trace" | "verbose" | "silly" => Level::Trace,
            "debug" | "dbg" => Level::Debug,
            "info" | "information" | "notice" | "log" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg"
            | "emergency" => Level::Error,
            _ => return None,
        };
        Some(level)
    }

    /// pino's and bunyan's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    pub fn from_number(number: f64) -> Option<Level> {
        let level = match number {
            n if !(0.0..=100.0).contains(&n) => return None,
            n if n < 20.0 => Level::Trace,
            n if n < 30.0 => Level::Debug,
            n if n < 40.0 => Level::Info,
            n if n < 50.0 => Level::Warn,
            _ => Level::Error,
        };
        Some(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    /// The strict form, for the command line: one of the five names.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(format!(
                "unknown level {text:?}; use trace, debug, info, warn or error"
            )),
        }
    }
}

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
        out.extend_from_slice(&self.head);
        match std::str::from_utf8(line) {
            Ok(text) => json_str(out, text),
            Err(_) => json_str(out, &String::from_utf8_lossy(line)),
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
/// check that runs over 32 bytes at a time (serde_json looks at each byte in turn).
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

/// Whether a JSON string of `bytes` needs an escape: a control character, `"` or `\\` (what
/// serde_json escapes; other characters, non-ASCII included, are written as they are).
fn needs_escape(bytes: &[u8]) -> bool {
    // No early exit inside a block, so the compiler can check it with vector instructions.
    bytes.chunks(32).any(|block| {
        block.iter().fold(false, |found, &b| {
            found | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    })
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

/// A line that is one JSON object, or `None`.
fn parse_object(line: &[u8]) -> Option<Map<String, Value>> {
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if line[start] != b'{' || line[end] != b'}' {
        return None;
    }
    serde_json::from_slice(&line[start..=end]).ok()
}

/// Keys the daemon owns: a child's own values for them are replaced.
const OWNED: [&str; 3] = ["program", "instance", "pid"];

/// Other spellings of `requestId`, renamed when `requestId` itself is absent.
const REQUEST_ID_ALIASES: [&str; 4] = ["reqId", "request_id", "requestID", "req_id"];

fn format_object(
    out: &mut Vec<u8>,
    mut object: Map<String, Value>,
    stream: Stream,
    origin: Origin<'_>,
    read_at: &str,
) -> Level {
    let level = take_level(&mut object).unwrap_or_else(|| stream.default_level());
    let time = take_time(&mut object).unwrap_or_else(|| read_at.to_owned());
    let msg = match object.remove("msg") {
        Some(msg) => msg,
        None => object
            .remove("message")
            .unwrap_or_else(|| Value::String(String::new())),
    };
    for key in OWNED {
        object.remove(key);
    }
    let request_id = object.remove("requestId").or_else(|| {
        REQUEST_ID_ALIASES
            .iter()
            .find_map(|alias| object.remove(*alias))
    });

    write_head(out, &time, level);
    json_value(out, &msg);
    write_tail(out, origin);
    if let Some(id) = request_id {
        out.extend_from_slice(b",\"requestId\":");
        json_value(out, &id);
    }
    if stream == Stream::Stderr && !object.contains_key("stream") {
        out.extend_from_slice(b",\"stream\":\"stderr\"");
    }
    for (key, value) in &object {
        out.push(b',');
        json_str(out, key);
        out.push(b':');
        json_value(out, value);
    }
    out.extend_from_slice(b"}\n");
    level
}

/// Takes `level` out of the object when it is a level the daemon understands; an unknown one
/// stays in the object under `levelName`, so nothing the child wrote is lost.
fn take_level(object: &mut Map<String, Value>) -> Option<Level> {
    let value = object.remove("level")?;
    let level = match &value {
        Value::String(text) => Level::parse_loose(text),
        Value::Number(n) => n.as_f64().and_then(Level::from_number),
        _ => None,
    };
    if level.is_none() {
        object.insert("levelName".into(), value);
    }
    level
}

/// The child's own time, normalised to UTC milliseconds: `time`, else `timestamp` (only when
/// `time` is absent, so the rename is unambiguous). A `time` that cannot be read moves to
/// `originalTime` and the read time is used.
fn take_time(object: &mut Map<String, Value>) -> Option<String> {
    if let Some(value) = object.remove("time") {
        return match normalise_time(&value) {
            Some(time) => Some(time),
            None => {
                object.insert("originalTime".into(), value);
                None
            }
        };
    }
    let time = object.get("timestamp").and_then(normalise_time)?;
    object.remove("timestamp");
    Some(time)
}

fn normalise_time(value: &Value) -> Option<String> {
    let time = match value {
        Value::String(text) => super::time::parse(text)?,
        Value::Number(n) => super::time::from_epoch(n.as_f64()?)?,
        _ => return None,
    };
    Some(super::time::format(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-29T10:42:07.123Z";
    const ORIGIN: Origin<'static> = Origin {
        program: "api",
        instance: 1,
        pid: Some(4242),
    };

    fn line(text: &str, stream: Stream) -> (Value, Level, String) {
        let mut out = Vec::new();
        let level = format_line(&mut out, text.as_bytes(), stream, 0, ORIGIN, T);
        let raw = String::from_utf8(out).unwrap();
        assert!(
            raw.ends_with("}\n") && raw.matches('\n').count() == 1,
            "{raw:?}"
        );
        (serde_json::from_str(&raw).unwrap(), level, raw)
    }

    #[test]
    fn plain_text_is_wrapped_with_the_stream_level() {
        let (record, level, raw) = line("hello \"world\"\r\n", Stream::Stdout);
        assert_eq!(level, Level::Info);
        assert_eq!(
            raw,
            "{\"time\":\"2026-11-29T10:42:07.123Z\",\"level\":\"info\",\"msg\":\"hello \\\"world\\\"\",\"program\":\"api\",\"instance\":1,\"pid\":4242}\n"
        );
        assert_eq!(record["msg"], "hello \"world\"");
        let (record, level, _) = line("boom", Stream::Stderr);
        assert_eq!(level, Level::Error);
        assert_eq!(record["level"], "error");
        assert_eq!(record["stream"], "stderr");
    }

    #[test]
    fn invalid_utf8_and_json_lookalikes_are_wrapped_not_lost() {
        let mut out = Vec::new();
        format_line(&mut out, b"caf\xe9 {", Stream::Stdout, 0, ORIGIN, T);
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["msg"], "caf\u{fffd} {");
        for text in ["{not json}", "[1,2]", "{\"a\":1} trailing", "42"] {
            let (record, _, _) = line(text, Stdout);
            assert_eq!(record["msg"], text);
        }
    }
    use Stream::Stdout;

    #[test]
    fn a_json_line_keeps_its_fields_and_gets_its_origin() {
        let (record, level, raw) = line(
            r#"{"level":"WARN","message":"slow","timestamp":"2026-11-29T11:42:07.5+01:00","pid":1,"program":"x","durationMs":812,"nested":{"a":[1,2]},"reqId":"r-1"}"#,
            Stdout,
        );
        assert_eq!(level, Level::Warn);
        assert!(raw.starts_with("{\"time\":\"2026-11-29T10:42:07.500Z\",\"level\":\"warn\",\"msg\":\"slow\",\"program\":\"api\",\"instance\":1,\"pid\":4242,\"requestId\":\"r-1\","), "{raw}");
        assert_eq!(record["durationMs"], 812);
        assert_eq!(record["nested"]["a"][1], 2);
        assert!(record.get("timestamp").is_none() && record.get("message").is_none());
        assert!(record.get("reqId").is_none());
    }

    #[test]
    fn pino_numbers_become_names_and_times() {
        let (record, level, _) = line(
            r#"{"level":50,"time":1764412927123,"msg":"failed","requestId":"abc","hostname":"h"}"#,
            Stdout,
        );
        assert_eq!(level, Level::Error);
        assert_eq!(record["time"], "2025-11-29T10:42:07.123Z");
        assert_eq!(record["requestId"], "abc");
        assert_eq!(record["hostname"], "h");
    }

    #[test]
    fn unknown_levels_and_times_are_kept_beside_the_normalised_ones() {
        let (record, level, _) = line(
            r#"{"level":"chatty","time":"yesterday","msg":{"k":1},"message":"also"}"#,
            Stream::Stderr,
        );
        assert_eq!(level, Level::Error);
        assert_eq!(record["levelName"], "chatty");
        assert_eq!(record["originalTime"], "yesterday");
        assert_eq!(record["time"], T);
        assert_eq!(record["msg"]["k"], 1);
        assert_eq!(record["message"], "also");
        assert_eq!(record["stream"], "stderr");
    }

    #[test]
    fn pieces_of_a_long_line_are_numbered_text() {
        let mut out = Vec::new();
        format_line(&mut out, b"{\"a\":", Stdout, 2, ORIGIN, T);
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["msg"], "{\"a\":");
        assert_eq!(record["part"], 2);
        // A cut right after a `\r` keeps it: the pieces join back to the line.
        let mut out = Vec::new();
        format_line(&mut out, b"ab\r", Stdout, 1, ORIGIN, T);
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["msg"], "ab\r");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let long = "a".repeat(31) + "\"" + &"b".repeat(40);
        for text in [
            "",
            "plain",
            "tab\there",
            "quote\"",
            "back\\slash",
            "é ☃ 🎉",
            "\u{7f}\u{1f}",
            &long,
        ] {
            let mut out = Vec::new();
            json_str(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn events_are_tagged_as_the_daemons() {
        let mut out = Vec::new();
        let origin = Origin {
            pid: None,
            ..ORIGIN
        };
        format_event(&mut out, "exited with code 3", Level::Error, origin, T);
        let record: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["source"], "svc");
        assert_eq!(record["pid"], Value::Null);
        assert_eq!(record["msg"], "exited with code 3");
    }

    #[test]
    fn levels_parse_loosely_from_children_and_strictly_from_users() {
        assert_eq!(Level::parse_loose("FATAL"), Some(Level::Error));
        assert_eq!(Level::parse_loose("Warning"), Some(Level::Warn));
        assert_eq!(Level::parse_loose("loud"), None);
        assert_eq!(Level::from_number(30.0), Some(Level::Info));
        assert_eq!(Level::from_number(60.0), Some(Level::Error));
        assert!("WARN".parse::<Level>().is_err());
        assert_eq!("warn".parse::<Level>(), Ok(Level::Warn));
    }
}
