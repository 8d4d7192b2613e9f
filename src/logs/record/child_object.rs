//! A child's line that is one JSON object: its own fields kept, the daemon's origin added, and
//! the conventions that differ between loggers (level, time, message, request id) normalised.

use serde_json::{Map, Value};

use super::{Level, Origin, Stream, json_str, json_value, write_head, write_tail};
use crate::logs::time;

/// A line that is one JSON object, or `None`.
pub(super) fn parse_object(line: &[u8]) -> Option<Map<String, Value>> {
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

/// Appends the record of a JSON object line to `out`, followed by `\n`, and returns its level.
pub(super) fn format_object(
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
        Value::String(text) => time::parse(text)?,
        Value::Number(n) => time::from_epoch(n.as_f64()?)?,
        _ => return None,
    };
    Some(time::format(time))
}
