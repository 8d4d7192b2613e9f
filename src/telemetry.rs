//! Tracing setup: JSON lines for the daemon and the services, plain text for the CLI.
//!
//! Every JSON line has `time` (RFC 3339 UTC, milliseconds), `level` (lowercase), `msg`, the event's
//! own fields and the fields of every span it is in (so a `requestId` or `jobId` recorded on a span
//! reaches every line logged inside it). This is the shape the log pipeline expects.
//!
//! [`RequestId`] is the id those lines are followed by, from the API's request to the worker's job.

pub mod request_id;

pub use request_id::RequestId;

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Installs a JSON-lines subscriber writing to `sink`, filtered by `$LOG_LEVEL`
/// (an `EnvFilter` directive such as `info` or `svc=debug`), defaulting to `info`.
///
/// A second call is ignored, so tests may call it freely. A line that cannot be written (the
/// disk of `svc.log` is full) is lost quietly: reporting it would write to the same full stderr,
/// and a failed `eprintln!` panics.
pub fn init_json<W>(sink: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .log_internal_errors(false)
        .event_format(JsonLines)
        .with_writer(sink)
        .try_init();
}

/// Installs the CLI's human-readable subscriber on stderr: warnings by default, more with `-v`.
pub fn init_cli(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Formats an event as one JSON object: `time`, `level`, `msg`, span fields, event fields.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "time".into(),
            humantime::format_rfc3339_millis(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert(
            "level".into(),
            event
                .metadata()
                .level()
                .as_str()
                .to_ascii_lowercase()
                .into(),
        );
        line.insert("msg".into(), Value::String(String::new()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields) {
                    line.extend(map);
                }
            }
        }
        event.record(&mut FieldVisitor(&mut line));
        let mut bytes = serde_json::to_vec(&line).map_err(|_| fmt::Error)?;
        bytes.push(b'\n');
        writer.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

/// Collects an event's fields; `message` becomes `msg`.
struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

/// A `MakeWriter` that writes whole lines to stdout with one `write` each, so lines from
/// concurrent tasks never interleave in the pipe the daemon reads.
pub fn stdout_lines() -> impl for<'w> MakeWriter<'w> + Send + Sync + 'static {
    || LineWriter(Vec::with_capacity(256))
}

/// Buffers one formatted event and writes it to stdout in a single call on drop.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::io::stdout().lock().write_all(&self.0);
        }
    }
}
