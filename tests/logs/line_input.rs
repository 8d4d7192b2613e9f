//! Log lines of any bytes: a child's output → one record per line (the daemon's writer side) →
//! `svc logs`, plus the reader on files of any bytes and the timestamp/level parsers. Plumbing and
//! properties: `common::fuzz`.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Number, Value};
use svc::logs::capture::{MAX_LINE, Splitter};
use svc::logs::family::Family;
use svc::logs::read::render::Renderer;
use svc::logs::read::{Filter, Output, history};
use svc::logs::record::{Level, Origin, Stream, format_line};

use crate::common::fuzz::{hostile_text, json_leaf, run, within};

/// The time the daemon read a line (what a record without a readable time of its own gets).
const READ_AT: &str = "2026-11-29T10:42:07.123Z";

/// Where records come from: two programs, one with a name that needs escaping.
const ORIGINS: [Origin<'static>; 2] = [
    Origin {
        program: "api",
        instance: 0,
        pid: Some(4242),
    },
    Origin {
        program: "wörk\"er",
        instance: 3,
        pid: None,
    },
];

/// Keys loggers write, including every one the daemon owns, renames or normalises.
const LOG_KEYS: &[&str] = &[
    "time",
    "timestamp",
    "level",
    "msg",
    "message",
    "program",
    "instance",
    "pid",
    "requestId",
    "reqId",
    "request_id",
    "requestID",
    "req_id",
    "stream",
    "source",
    "part",
    "levelName",
    "originalTime",
    "hostname",
    "err",
    "",
];

/// The request ids the filter tests look for (they also appear as values).
const REQUEST_IDS: &[&str] = &["r-1", "1", "\"", ""];

fn log_level_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "trace", "DEBUG", "Info", "notice", "warning", "WARN", "err", "fatal", "chatty",
            " error ", "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        prop::sample::select(vec![
            10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 35.5, -1.0, 100.0, 100.5, 1e300
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        json_leaf(),
    ]
}

fn log_time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        rfc3339ish().prop_map(Value::String),
        prop::sample::select(vec![
            1_764_412_927_123.0,
            1_764_412_927.5,
            978_307_200.0,
            978_307_199.0,
            9_999_999_999.0,
            9_999_999_999_999.0,
            10_000_000_000_000.0,
            1e308,
            -5.0,
            0.0,
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        json_leaf(),
    ]
}

/// Timestamps that look like RFC 3339, right or subtly wrong (any digits, any offset).
fn rfc3339ish() -> impl Strategy<Value = String> {
    "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{2}:[0-9]{2}|[+-][0-9]{4})?"
}

/// A field's value: any JSON, small (generation dominates the cost of these cases).
fn log_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(LOG_KEYS), inner, 0..4).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

/// A JSON object as a logger writes it: known keys with values of any type, the special
/// fields (`level`, `time`, `timestamp`, request ids) often present, nesting.
fn log_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(LOG_KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    let request_id = prop_oneof![
        3 => prop::sample::select(REQUEST_IDS).prop_map(|s| Value::String(s.to_owned())),
        1 => Just(Value::from(1)),
        1 => json_leaf(),
    ];
    (
        prop::collection::btree_map(key, log_value(), 0..6),
        proptest::option::of(log_level_value()),
        proptest::option::of(log_time_value()),
        proptest::option::of(log_time_value()),
        proptest::option::of((prop::sample::select(&LOG_KEYS[8..13]), request_id)),
    )
        .prop_map(|(fields, level, time, timestamp, request_id)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            let mut set = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            };
            set("level", level);
            set("time", time);
            set("timestamp", timestamp);
            if let Some((key, id)) = request_id {
                set(key, Some(id));
            }
            object
        })
}

/// `depth` nested arrays or objects: past serde_json's recursion limit (128) the line is text.
fn nested(depth: usize, arrays: bool) -> Vec<u8> {
    let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
    format!("{{\"msg\":{}1{}}}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

/// One line of a child's output (it may hold newlines itself: then it is several).
fn child_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => log_object().prop_map(|m| Value::Object(m).to_string().into_bytes()),
        1 => (log_object(), "[ \t\r\u{b}\u{c}]{0,3}", "[ \t\r\u{c}]{0,3}").prop_map(
            |(m, before, after)| format!("{before}{}{after}", Value::Object(m)).into_bytes()
        ),
        2 => prop::collection::vec(any::<u8>(), 0..200),
        2 => hostile_text().prop_map(String::into_bytes),
        1 => (1usize..3000, any::<bool>()).prop_map(|(depth, arrays)| nested(depth, arrays)),
    ]
}

/// A line around and past [`MAX_LINE`]: text or a JSON object, in characters of 1 to 4 bytes
/// (so the cuts meet character boundaries) or NUL / CR.
fn huge_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["a", "é", "€", "🙂", "\0", "\r"]),
        (MAX_LINE - 8)..(MAX_LINE * 2 + 8),
        any::<bool>(),
    )
        .prop_map(|(unit, bytes, json)| {
            let text = unit.repeat(bytes / unit.len());
            if json {
                Value::Object(Map::from_iter([("msg".to_owned(), Value::String(text))]))
                    .to_string()
                    .into_bytes()
            } else {
                text.into_bytes()
            }
        })
}

/// A child's whole output: lines ended by `\n` or `\r\n` (the last maybe unended), read from
/// the pipe in pieces of arbitrary sizes.
#[derive(Debug, Clone)]
struct ChildOutput {
    bytes: Vec<u8>,
    reads: Vec<usize>,
    stream: Stream,
    /// Where the records are split between a finished (older) and the current file.
    split: prop::sample::Index,
    /// Whether the older file is compressed.
    gz: bool,
    /// `svc logs -n N`.
    last: prop::sample::Index,
}

fn child_output() -> impl Strategy<Value = ChildOutput> {
    (
        prop::collection::vec((child_line(), any::<bool>()), 0..8),
        proptest::option::weighted(0.1, (huge_line(), any::<prop::sample::Index>())),
        any::<bool>(),
        prop::collection::vec(1usize..80_000, 1..8),
        any::<bool>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(mut lines, huge, unended, reads, stderr, split, gz, last)| {
                if let Some((line, at)) = huge {
                    lines.insert(at.index(lines.len() + 1), (line, false));
                }
                let mut bytes = Vec::new();
                let count = lines.len();
                for (i, (line, crlf)) in lines.into_iter().enumerate() {
                    bytes.extend_from_slice(&line);
                    if !(unended && i + 1 == count) {
                        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                    }
                }
                let stream = if stderr {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                ChildOutput {
                    bytes,
                    reads,
                    stream,
                    split,
                    gz,
                    last,
                }
            },
        )
}

/// The lines of a byte stream (what a reader of the pipe should see), without their `\n`.
fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n').collect()
}

/// Feeds `bytes` to a [`Splitter`] in reads of the given sizes; every piece and its part.
fn split_pipe(bytes: &[u8], reads: &[usize]) -> Vec<(Vec<u8>, u32)> {
    let mut splitter = Splitter::default();
    let mut pieces = Vec::new();
    let mut collect = |chunk: Option<svc::logs::capture::Chunk>| {
        if let Some(chunk) = chunk {
            for piece in &chunk.lines {
                pieces.push((chunk.data[piece.range()].to_vec(), piece.part));
            }
        }
    };
    let mut rest = bytes;
    for size in reads.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (now, later) = rest.split_at((*size).min(rest.len()));
        splitter.buffer().extend_from_slice(now);
        collect(splitter.take(false));
        rest = later;
    }
    collect(splitter.take(true));
    pieces
}

/// The keys of a JSON object in the order written, duplicates kept.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let Some(rest) = line
        .strip_suffix(b"\n")
        .or_else(|| line.strip_suffix(b"\r"))
    {
        line = rest;
    }
    line
}

/// The object a whole line is, when it is one (surrounding ASCII whitespace allowed).
fn line_object(line: &[u8]) -> Option<Map<String, Value>> {
    let line = trim_line_end(line);
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace())?;
    serde_json::from_slice(&line[start..=end]).ok()
}

fn default_level(stream: Stream) -> Level {
    match stream {
        Stream::Stdout => Level::Info,
        Stream::Stderr => Level::Error,
    }
}

/// A child's time value as the record's `time`, when the daemon can read it.
fn normalised_time(value: &Value) -> Option<String> {
    use svc::logs::time;
    let at = match value {
        Value::String(text) => time::parse(text)?,
        Value::Number(n) => time::from_epoch(n.as_f64()?)?,
        _ => return None,
    };
    Some(time::format(at))
}

/// `value` printed and read back: what a reader of a record gets for a value the daemon parsed
/// (serde_json reads some floats one unit in the last place off, so compare after the same trip).
fn reparsed(value: &Value) -> Value {
    serde_json::from_str(&value.to_string()).unwrap_or(Value::Null)
}

/// Checks one record against the piece of output it was made from.
fn check_record(
    piece: &[u8],
    part: u32,
    stream: Stream,
    origin: Origin<'_>,
    level: Level,
    raw: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(raw.ends_with(b"\n"), "a record ends its line");
    let raw = &raw[..raw.len() - 1];
    prop_assert!(!raw.contains(&b'\n'), "one line per record");
    let record: Map<String, Value> = serde_json::from_slice(raw)
        .map_err(|e| TestCaseError::fail(format!("not a JSON object ({e}): {raw:?}")))?;
    let keys = serde_json::from_slice::<Keys>(raw)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .0;
    prop_assert_eq!(keys.len(), record.len(), "duplicate keys in {:?}", keys);
    prop_assert_eq!(
        &keys[..6],
        &["time", "level", "msg", "program", "instance", "pid"][..]
    );
    if record.contains_key("requestId") {
        prop_assert_eq!(keys[6].as_str(), "requestId");
    }
    // Where it came from: always the daemon's values.
    prop_assert_eq!(&record["program"], origin.program);
    prop_assert_eq!(&record["instance"], origin.instance);
    prop_assert_eq!(&record["pid"], &origin.pid.map_or(Value::Null, Value::from));
    prop_assert_eq!(&record["level"], level.as_str());
    let time = record["time"].as_str().unwrap_or_default();
    prop_assert!(
        time.len() == 24 && svc::logs::time::parse(time).is_some(),
        "time {time:?}"
    );

    let object = if part == 0 { line_object(piece) } else { None };
    let Some(mut child) = object else {
        // Text: wrapped whole, nothing lost but invalid UTF-8 (replaced) and the line end.
        let text = String::from_utf8_lossy(if part == 0 {
            trim_line_end(piece)
        } else {
            piece
        });
        prop_assert_eq!(&record["msg"], &Value::String(text.into_owned()));
        prop_assert_eq!(level, default_level(stream));
        prop_assert_eq!(time, READ_AT);
        let mut expected = 6;
        if stream == Stream::Stderr {
            prop_assert_eq!(&record["stream"], "stderr");
            expected += 1;
        }
        if part > 0 {
            prop_assert_eq!(&record["part"], part);
            expected += 1;
        }
        prop_assert_eq!(record.len(), expected, "extra keys in {:?}", record);
        return Ok(());
    };

    // An object: the child's fields stay; the daemon's conventions apply to the few it owns.
    let child_level = child.remove("level");
    let parsed_level = match &child_level {
        Some(Value::String(text)) => Level::parse_loose(text),
        Some(Value::Number(n)) => n.as_f64().and_then(Level::from_number),
        _ => None,
    };
    prop_assert_eq!(level, parsed_level.unwrap_or(default_level(stream)));
    let mut moved = Vec::new();
    if let (Some(value), None) = (&child_level, parsed_level) {
        prop_assert_eq!(
            &record["levelName"],
            &reparsed(value),
            "an unknown level is kept"
        );
        moved.push("levelName");
    }
    match child.remove("time") {
        Some(value) => match normalised_time(&value) {
            Some(normal) => prop_assert_eq!(time, normal.as_str()),
            None => {
                prop_assert_eq!(
                    &record["originalTime"],
                    &reparsed(&value),
                    "an unreadable time is kept"
                );
                prop_assert_eq!(time, READ_AT);
                moved.push("originalTime");
            }
        },
        None => match child.get("timestamp").and_then(normalised_time) {
            Some(normal) => {
                prop_assert_eq!(time, normal.as_str());
                child.remove("timestamp");
            }
            None => prop_assert_eq!(time, READ_AT),
        },
    }
    let msg = match child.remove("msg") {
        Some(msg) => msg,
        None => child
            .remove("message")
            .unwrap_or(Value::String(String::new())),
    };
    prop_assert_eq!(&record["msg"], &reparsed(&msg));
    for owned in ["program", "instance", "pid"] {
        child.remove(owned);
    }
    let request_id = child.remove("requestId").or_else(|| {
        ["reqId", "request_id", "requestID", "req_id"]
            .iter()
            .find_map(|alias| child.remove(*alias))
    });
    let request_id = request_id.map(|id| reparsed(&id));
    prop_assert_eq!(record.get("requestId"), request_id.as_ref());
    let mut expected = 6 + usize::from(request_id.is_some());
    if stream == Stream::Stderr && !child.contains_key("stream") {
        prop_assert_eq!(&record["stream"], "stderr");
        expected += 1;
    }
    // The daemon's moves win over a child's own `levelName` / `originalTime`: the only child
    // fields a record can lose (documented in docs/LOGS.md).
    for key in &moved {
        child.remove(*key);
        expected += 1;
    }
    // Everything else the child wrote, unchanged.
    for (key, value) in &child {
        prop_assert_eq!(
            record.get(key),
            Some(&reparsed(value)),
            "the child's {:?} was lost",
            key
        );
    }
    prop_assert_eq!(
        record.len(),
        expected + child.len(),
        "extra keys in {:?}",
        record
    );
    Ok(())
}

/// Collects what `svc logs` prints.
#[derive(Default)]
struct Printed(Vec<Vec<u8>>);

impl Output for Printed {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.0.push(line.to_vec());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn notice(&mut self, _: &str) {}
}

/// A log whose records are `older` (a finished file, maybe compressed) then `current` (the
/// file being written), in a temp folder.
fn write_log(
    older: &[u8],
    current: &[u8],
    gz: bool,
) -> Result<(tempfile::TempDir, Family), TestCaseError> {
    use std::io::Write;
    let fail = |e: std::io::Error| TestCaseError::fail(e.to_string());
    let dir = tempfile::tempdir().map_err(fail)?;
    let family = Family::new(dir.path(), "app.log");
    if gz {
        let file = std::fs::File::create(family.gz_path(1)).map_err(fail)?;
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        encoder.write_all(older).map_err(fail)?;
        encoder.finish().map_err(fail)?;
    } else {
        std::fs::write(family.path(1), older).map_err(fail)?;
    }
    std::fs::write(family.path(2), current).map_err(fail)?;
    Ok((dir, family))
}

/// What `svc logs` (with `filter`, `-n last`) prints of `family`.
fn read_log(
    family: &Family,
    filter: &Filter,
    last: Option<usize>,
) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let mut printed = Printed::default();
    history(family, filter, last, &mut printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(printed.0)
}

/// Whether `svc logs --request-id want` should show `record`.
fn has_request_id(record: &Map<String, Value>, want: &str) -> bool {
    match record.get("requestId") {
        Some(Value::String(id)) => id == want,
        Some(Value::Number(n)) => n.to_string() == want,
        _ => false,
    }
}

fn check_child_output(case: &ChildOutput) -> Result<(), TestCaseError> {
    // The pipe reader: every line once, long ones in numbered pieces that join back.
    let pieces = split_pipe(&case.bytes, &case.reads);
    let lines = lines_of(&case.bytes);
    let mut pieces_iter = pieces.iter();
    // Which pieces make each line.
    let mut groups = Vec::new();
    let mut next = 0;
    for line in &lines {
        let mut joined = Vec::new();
        let mut parts = Vec::new();
        for (bytes, part) in pieces_iter.by_ref() {
            prop_assert!(bytes.len() <= MAX_LINE, "a piece of {} bytes", bytes.len());
            joined.extend_from_slice(bytes);
            parts.push(*part);
            if *part == 0 || joined.len() >= line.len() {
                break;
            }
        }
        prop_assert!(joined == *line, "the pieces do not join back to the line");
        groups.push(next..next + parts.len());
        next += parts.len();
        if line.len() > MAX_LINE {
            prop_assert!(parts.len() > 1);
            let numbered: Vec<u32> = (1..).take(parts.len()).collect();
            prop_assert_eq!(parts, numbered);
        } else {
            prop_assert_eq!(parts, vec![0]);
        }
    }
    prop_assert!(pieces_iter.next().is_none(), "pieces beyond the lines");

    // The writer: one record per piece.
    let mut records = Vec::new();
    let mut parsed = Vec::new();
    for (i, (piece, part)) in pieces.iter().enumerate() {
        let origin = ORIGINS[i % 2];
        let mut out = Vec::new();
        let level = format_line(&mut out, piece, case.stream, *part, origin, READ_AT);
        check_record(piece, *part, case.stream, origin, level, &out)?;
        for color in [false, true] {
            let mut shown = Vec::new();
            Renderer { json: false, color }.render(&out[..out.len() - 1], &mut shown);
        }
        out.pop();
        let record: Map<String, Value> =
            serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        parsed.push((record, level));
        records.push(out);
    }

    // A long line's pieces: their messages join back to the line (when it is UTF-8).
    for (line, range) in lines.iter().zip(&groups) {
        if let Ok(text) = std::str::from_utf8(line)
            && range.len() > 1
        {
            let joined: String = parsed[range.clone()]
                .iter()
                .map(|(record, _)| record["msg"].as_str().unwrap_or_default())
                .collect();
            prop_assert!(joined == text, "the pieces' messages do not join back");
        }
    }

    // The reader: every record back, in order, from a finished (maybe gzip) file and the
    // current one; `-n`, program, level and request-id filters pick exactly theirs.
    let at = case.split.index(records.len() + 1);
    let file = |range: &[Vec<u8>]| -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in range {
            bytes.extend_from_slice(record);
            bytes.push(b'\n');
        }
        bytes
    };
    let (_dir, family) = write_log(&file(&records[..at]), &file(&records[at..]), case.gz)?;
    let read = |filter: &Filter, last: Option<usize>| read_log(&family, filter, last);
    let pick = |keep: &dyn Fn(&Map<String, Value>, Level) -> bool| -> Vec<Vec<u8>> {
        records
            .iter()
            .zip(&parsed)
            .filter(|(_, (record, level))| keep(record, *level))
            .map(|(raw, _)| raw.clone())
            .collect()
    };
    prop_assert!(
        read(&Filter::default(), None)? == records,
        "svc logs lost or changed records"
    );
    let n = case.last.index(records.len() + 2);
    let tail = records[records.len().saturating_sub(n)..].to_vec();
    prop_assert!(
        read(&Filter::default(), Some(n))? == tail,
        "svc logs -n {n}"
    );
    let program = Filter {
        programs: vec![ORIGINS[1].program.to_owned()],
        ..Filter::default()
    };
    let want = pick(&|r, _| r["program"] == ORIGINS[1].program);
    prop_assert!(read(&program, None)? == want, "svc logs <program>");
    let warn = Filter {
        min_level: Some(Level::Warn),
        ..Filter::default()
    };
    let want = pick(&|_, level| level >= Level::Warn);
    prop_assert!(read(&warn, None)? == want, "svc logs --level warn");
    let want_tail = want[want.len().saturating_sub(n)..].to_vec();
    prop_assert!(
        read(&warn, Some(n))? == want_tail,
        "svc logs --level warn -n {n}"
    );
    let id = REQUEST_IDS[n % REQUEST_IDS.len()];
    let request = Filter {
        request_id: Some(id.to_owned()),
        ..Filter::default()
    };
    let want = pick(&|r, _| has_request_id(r, id));
    prop_assert!(
        read(&request, None)? == want,
        "svc logs --request-id {id:?}"
    );
    Ok(())
}

/// Runs `f` on a thread with a large stack: generating these nested strategies recurses deeper
/// than a test thread's 2 MiB allow in a debug build.
fn with_large_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(scope, f)
            .expect("spawn");
        if let Err(panic) = runner.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

#[test]
fn log_lines_of_any_bytes_become_one_json_record_each_that_svc_logs_reads_back() {
    with_large_stack(|| {
        run(
            "log lines (pipe → record → svc logs)",
            500,
            child_output(),
            |case| within("log lines", move || check_child_output(&case))?,
        )
    });
}

/// What a torn or foreign file holds: records, their pieces, anything.
fn log_file_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            2 => child_line(),
            1 => (log_object(), any::<prop::sample::Index>()).prop_map(|(m, cut)| {
                let text = Value::Object(m).to_string().into_bytes();
                let at = cut.index(text.len() + 1);
                text[..at].to_vec()
            }),
            1 => Just(Vec::new()),
        ],
        0..10,
    )
    .prop_map(|lines| lines.join(&b'\n'))
}

#[test]
fn svc_logs_reads_any_file_without_panic_and_shows_only_what_matches() {
    with_large_stack(|| {
        let case = (
            log_file_bytes(),
            log_file_bytes(),
            any::<bool>(),
            0usize..12,
        );
        run(
            "log reader (any file)",
            500,
            case,
            |(older, current, gz, last)| {
                within("log reader", move || {
                    let (_dir, family) = write_log(&older, &current, gz)?;
                    let all = read_log(&family, &Filter::default(), None)?;
                    // Every non-empty line of the finished file, and the current file's complete lines.
                    let complete = match current.iter().rposition(|&b| b == b'\n') {
                        Some(end) => &current[..=end],
                        None => &current[..0],
                    };
                    let expected: Vec<Vec<u8>> = older
                        .split(|&b| b == b'\n')
                        .chain(complete.split(|&b| b == b'\n'))
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect();
                    prop_assert!(all == expected, "svc logs did not show the file's lines");
                    let tail = read_log(&family, &Filter::default(), Some(last))?;
                    prop_assert!(tail == expected[expected.len().saturating_sub(last)..].to_vec());
                    for filter in [
                        Filter {
                            min_level: Some(Level::Warn),
                            ..Filter::default()
                        },
                        Filter {
                            programs: vec!["api".into()],
                            ..Filter::default()
                        },
                        Filter {
                            request_id: Some("r-1".into()),
                            ..Filter::default()
                        },
                    ] {
                        let shown = read_log(&family, &filter, Some(last))?;
                        prop_assert!(shown.len() <= last);
                        for line in read_log(&family, &filter, None)? {
                            prop_assert!(filter.matches(&line));
                            prop_assert!(
                                serde_json::from_slice::<Map<String, Value>>(&line).is_ok()
                            );
                        }
                    }
                    Ok(())
                })?
            },
        );
    });
}

#[test]
fn timestamps_and_levels_of_any_text_parse_or_are_refused_without_panic() {
    use svc::logs::time;
    let input = (
        prop_oneof![rfc3339ish(), hostile_text(), ".{0,40}"],
        any::<f64>(),
    );
    run("log times and levels", 5000, input, |(text, number)| {
        within("times", move || {
            if let Some(at) = time::parse(&text) {
                // What the writer prints reads back as the same instant (to the millisecond).
                let printed = time::format(at);
                prop_assert_eq!(printed.len(), 24);
                let again = time::parse(&printed);
                prop_assert_eq!(again.map(time::format), Some(printed));
            }
            if let Some(at) = time::from_epoch(number) {
                prop_assert!(time::parse(&time::format(at)).is_some());
            }
            let _ = Level::parse_loose(&text);
            let _ = Level::from_number(number);
            Ok(())
        })?
    });
}
