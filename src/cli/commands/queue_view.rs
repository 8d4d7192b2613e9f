//! What `svc queue list` and `svc queue show` print, the same for both backends: tables and text
//! for people, JSON for scripts. Email addresses in a job's data, its failure reasons and its
//! return value are masked (`a***@example.com`) unless the caller asks for the data in full.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value, json};

use crate::clock;
use crate::queue::jobs::JobOrigin;
use crate::queue::{JobRecord, JobState};

/// Longest failure reason shown in a `list` table (the full text is in `show`).
const REASON_WIDTH: usize = 80;

/// `svc queue list`'s table: id, name, attempts made, age, and for failed jobs the reason.
pub fn list_table(state: JobState, jobs: &[JobRecord], now: SystemTime) -> String {
    if jobs.is_empty() {
        return format!("no {state} jobs\n");
    }
    let failed = state == JobState::Failed;
    let mut header = vec!["id", "name", "attempts", "age"];
    if failed {
        header.push("failed reason");
    }
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for job in jobs {
        let mut row = vec![
            job.id.clone(),
            job.name.clone(),
            job.attempts_made.to_string(),
            age(job.timestamp, now),
        ];
        if failed {
            let reason = mask_text(job.failed_reason.as_deref().unwrap_or(""));
            row.push(shorten(&reason, REASON_WIDTH));
        }
        table.add_row(row);
    }
    format!("{table}\n")
}

/// `svc queue list --json`: one object per job.
pub fn list_json(jobs: &[JobRecord], now: SystemTime) -> Value {
    Value::Array(
        jobs.iter()
            .map(|job| {
                json!({
                    "id": job.id,
                    "name": job.name,
                    "state": job.state,
                    "attemptsMade": job.attempts_made,
                    "timestamp": job.timestamp,
                    "ageMs": age_ms(job.timestamp, now),
                    "failedReason": job.failed_reason.as_deref().map(mask_text),
                })
            })
            .collect(),
    )
}

/// `svc queue show --json`: the whole job; addresses masked unless `show_data`.
pub fn show_json(job: &JobRecord, show_data: bool) -> Value {
    let mask = |value: &Value| {
        if show_data {
            value.clone()
        } else {
            mask_value(value)
        }
    };
    let text = |t: &str| {
        if show_data {
            t.to_owned()
        } else {
            mask_text(t)
        }
    };
    let request_id = JobOrigin::of(&job.data).request_id;
    json!({
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "data": mask(&job.data),
        "opts": job.opts.to_bullmq_json(),
        "attemptsMade": job.attempts_made,
        "attemptsStarted": job.attempts_started,
        "stalledCount": job.stalled_count,
        "failedReason": job.failed_reason.as_deref().map(text),
        "stacktrace": job.stacktrace.iter().map(|t| text(t)).collect::<Vec<_>>(),
        "timestamp": job.timestamp,
        "processedOn": job.processed_on,
        "finishedOn": job.finished_on,
        "returnvalue": job.returnvalue.as_ref().map(mask),
        "requestId": request_id,
        "logs": request_id.as_ref().map(|id| follow_command(id.as_str())),
    })
}

/// `svc queue show`'s text, from [`show_json`]'s object (so both say the same).
pub fn show_text(job: &JobRecord, shown: &Value, now: SystemTime) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("{label:<13}{value}\n"));
    };
    line("job", &format!("{} ({})", job.id, job.name));
    line("state", job.state.name());
    line("data", &shown["data"].to_string());
    line("options", &options(job));
    line(
        "attempts",
        &format!(
            "{} made of {}, {} started, {} stalled",
            job.attempts_made,
            job.opts.attempts.max(1),
            job.attempts_started,
            job.stalled_count
        ),
    );
    if let Some(reason) = shown["failedReason"].as_str() {
        line("failed", reason);
    }
    let stack: Vec<&str> = shown["stacktrace"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (n, entry) in stack.iter().enumerate() {
        let label = if n == 0 { "failures" } else { "" };
        line(label, &format!("{}. {}", n + 1, first_line(entry)));
    }
    line("created", &when(job.timestamp, now));
    if let Some(at) = job.processed_on {
        line("processed", &when(at, now));
    }
    if let Some(at) = job.finished_on {
        line("finished", &when(at, now));
    }
    if !shown["returnvalue"].is_null() {
        line("return value", &shown["returnvalue"].to_string());
    }
    match shown["requestId"].as_str() {
        Some(id) => {
            line("request id", id);
            line("logs", &follow_command(id));
        }
        None => line("request id", "none (the job's data has no requestId)"),
    }
    out
}

/// The request that caused the job (`data.requestId`), to follow its logs end to end.
fn follow_command(request_id: &str) -> String {
    format!("svc logs --request-id {request_id}")
}

fn options(job: &JobRecord) -> String {
    let o = &job.opts;
    let mut parts = vec![
        format!("attempts {}", o.attempts.max(1)),
        format!(
            "backoff {} {}",
            o.backoff.strategy.name(),
            humantime::format_duration(o.backoff.delay)
        ),
    ];
    if o.backoff.jitter > 0.0 {
        parts.push(format!("jitter {}", o.backoff.jitter));
    }
    if !o.delay.is_zero() {
        parts.push(format!("delay {}", humantime::format_duration(o.delay)));
    }
    if o.priority > 0 {
        parts.push(format!("priority {}", o.priority));
    }
    if o.lifo {
        parts.push("lifo".into());
    }
    parts.join(", ")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn age_ms(at: u64, now: SystemTime) -> u64 {
    clock::unix_millis(now).saturating_sub(at)
}

/// A job's age, in its largest unit: `42s`, `5m`, `3h`, `2d`.
fn age(at: u64, now: SystemTime) -> String {
    let secs = age_ms(at, now) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn when(at: u64, now: SystemTime) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(at);
    format!(
        "{} ({} ago)",
        humantime::format_rfc3339_millis(time),
        age(at, now)
    )
}

fn shorten(text: &str, width: usize) -> String {
    let line = first_line(text);
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let cut: String = line.chars().take(width.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Every string in `value` with its email addresses masked.
pub fn mask_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(mask_text(s)),
        Value::Array(items) => Value::Array(items.iter().map(mask_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_value(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// `text` with the local part of each email address cut to its first character:
/// `ada@example.com` → `a***@example.com`. An `@` without a dotted domain is left alone.
pub fn mask_text(text: &str) -> String {
    let in_local = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let in_domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let start = (0..i)
                .rev()
                .take_while(|&j| in_local(chars[j]))
                .last()
                .unwrap_or(i);
            let end = (i + 1..chars.len())
                .take_while(|&j| in_domain(chars[j]))
                .last()
                .map_or(i + 1, |j| j + 1);
            let domain: String = chars[i + 1..end].iter().collect();
            if start < i && domain.contains('.') {
                // The local part was copied out already: take it back.
                let local_len: usize = chars[start..i].iter().map(|c| c.len_utf8()).sum();
                out.truncate(out.len() - local_len);
                out.push(chars[start]);
                out.push_str("***@");
                out.push_str(&domain);
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_wherever_they_are() {
        assert_eq!(mask_text("ada@example.com"), "a***@example.com");
        assert_eq!(
            mask_text("550 <bob.smith+x@mail.example.org> rejected"),
            "550 <b***@mail.example.org> rejected"
        );
        assert_eq!(
            mask_text("no address @ here, a@b"),
            "no address @ here, a@b"
        );
        assert_eq!(mask_text("é@exämple.com"), "é***@exämple.com");
        let data = json!({"email": "ada@example.com", "to": ["x@y.io"], "n": 1});
        assert_eq!(
            mask_value(&data),
            json!({"email": "a***@example.com", "to": ["x***@y.io"], "n": 1})
        );
    }

    #[test]
    fn ages_use_their_largest_unit() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |secs: u64| 1_000_000_000 - secs * 1000;
        assert_eq!(age(ago(42), now), "42s");
        assert_eq!(age(ago(300), now), "5m");
        assert_eq!(age(ago(3 * 3600), now), "3h");
        assert_eq!(age(ago(2 * 86_400 + 5), now), "2d");
        assert_eq!(age(2_000_000_000, now), "0s", "a clock step back");
    }
}
