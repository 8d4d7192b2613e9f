//! How `svc logs` shows a record to a person (`--json` shows it as stored):
//!
//! ```text
//! 2026-11-29 10:42:07.123 api[0] INFO  listening port=3000
//! 2026-11-29 10:42:07.125 api[0] WARN  slow query requestId=3f2a durationMs=812
//! 2026-11-29 10:42:08.001 api[1] ERROR svc: exited with code 1; restarting in 100 ms
//! ```
//!
//! Colours (on a terminal): the time dimmed, each program its own colour, levels by severity.
//! A line that is not a JSON object is shown as it is.

use serde_json::{Map, Value};

use crate::logs::Level;

/// Fields shown in the fixed part of a line, not repeated as `key=value`.
const SHOWN: [&str; 7] = [
    "time", "level", "msg", "program", "instance", "pid", "source",
];

const DIM: &str = "\x1b[2m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";
const PROGRAM_COLORS: [&str; 6] = [
    "\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[33m", "\x1b[32m", "\x1b[96m",
];

/// Turns stored records into the lines `svc logs` prints.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    /// Print records as stored (one JSON object per line).
    pub json: bool,
    /// Use ANSI colours.
    pub color: bool,
}

impl Renderer {
    /// Appends the printed form of `record` (no newline in it) and a newline to `out`.
    pub fn render(&self, record: &[u8], out: &mut Vec<u8>) {
        if self.json {
            out.extend_from_slice(record);
            out.push(b'\n');
            return;
        }
        match serde_json::from_slice::<Map<String, Value>>(record) {
            Ok(fields) => self.human(&fields, out),
            Err(_) => out.extend_from_slice(record),
        }
        out.push(b'\n');
    }

    fn human(&self, fields: &Map<String, Value>, out: &mut Vec<u8>) {
        let time = text(fields, "time").replacen('T', " ", 1);
        let time = time.strip_suffix('Z').unwrap_or(&time);
        self.paint(out, DIM, time);
        out.push(b' ');

        let program = text(fields, "program");
        let instance = fields.get("instance").map(compact).unwrap_or_default();
        let who = if instance.is_empty() {
            program.to_owned()
        } else {
            format!("{program}[{instance}]")
        };
        self.paint(out, program_color(program), &who);
        out.push(b' ');

        let level_text = text(fields, "level");
        let level = Level::parse_loose(level_text);
        let label = format!(
            "{:<5}",
            level
                .map_or(level_text, |l| l.as_str())
                .to_ascii_uppercase()
        );
        self.paint(out, level_color(level), &label);
        out.push(b' ');

        if text(fields, "source") == "svc" {
            self.paint(out, DIM, "svc:");
            out.push(b' ');
        }
        match fields.get("msg") {
            Some(Value::String(msg)) => out.extend_from_slice(msg.as_bytes()),
            Some(other) => out.extend_from_slice(compact(other).as_bytes()),
            None => {}
        }

        let request = fields.get("requestId").map(|v| ("requestId", v));
        let rest = fields
            .iter()
            .filter(|(k, _)| !SHOWN.contains(&k.as_str()) && k.as_str() != "requestId")
            .map(|(k, v)| (k.as_str(), v));
        for (key, value) in request.into_iter().chain(rest) {
            out.push(b' ');
            self.paint(out, DIM, &format!("{key}="));
            out.extend_from_slice(field_value(value).as_bytes());
        }
    }

    fn paint(&self, out: &mut Vec<u8>, color: &str, text: &str) {
        if self.color && !color.is_empty() {
            out.extend_from_slice(color.as_bytes());
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(RESET.as_bytes());
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// The string field `key` of `fields`, or "".
fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> &'a str {
    fields.get(key).and_then(Value::as_str).unwrap_or("")
}

fn level_color(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Trace) => DIM,
        Some(Level::Debug) => "\x1b[34m",
        Some(Level::Info) => "\x1b[32m",
        Some(Level::Warn) => "\x1b[33m",
        Some(Level::Error) => BOLD_RED,
        None => "",
    }
}

/// A stable colour per program name.
fn program_color(program: &str) -> &'static str {
    let hash = program.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    PROGRAM_COLORS[hash % PROGRAM_COLORS.len()]
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A field's value: bare when that is unambiguous, JSON otherwise.
fn field_value(value: &Value) -> String {
    match value {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control()) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(record: &str, color: bool) -> String {
        let mut out = Vec::new();
        Renderer { json: false, color }.render(record.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn records_read_like_log_lines() {
        let line = show(
            r#"{"time":"2026-11-29T10:42:07.123Z","level":"warn","msg":"slow query","program":"api","instance":0,"pid":9,"requestId":"3f2a","durationMs":812,"sql":"select 1"}"#,
            false,
        );
        assert_eq!(
            line,
            "2026-11-29 10:42:07.123 api[0] WARN  slow query requestId=3f2a durationMs=812 sql=\"select 1\"\n"
        );
        let event = show(
            r#"{"time":"2026-11-29T10:42:08.001Z","level":"error","msg":"exited with code 1","program":"api","instance":1,"pid":9,"source":"svc"}"#,
            false,
        );
        assert_eq!(
            event,
            "2026-11-29 10:42:08.001 api[1] ERROR svc: exited with code 1\n"
        );
    }

    #[test]
    fn colours_only_when_asked_and_raw_lines_pass_through() {
        let record = r#"{"time":"2026-11-29T10:42:07.123Z","level":"error","msg":"x","program":"api","instance":0}"#;
        assert!(show(record, true).contains(BOLD_RED));
        assert!(!show(record, false).contains('\x1b'));
        assert_eq!(show("plain text", true), "plain text\n");
        let mut out = Vec::new();
        Renderer {
            json: true,
            color: true,
        }
        .render(record.as_bytes(), &mut out);
        assert_eq!(out, format!("{record}\n").into_bytes());
    }
}
