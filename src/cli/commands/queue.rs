//! `svc queue status | retry-failed | add`: the email queue, opened directly (no daemon and no
//! worker needed) from the environment like every other part of svc: Redis with BullMQ's layout
//! when `REDIS_URL`/`REDIS_HOST` is set, else the embedded store in `DATA_DIR`.

use std::process::ExitCode;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};

use super::runtime;
use crate::cli::{CliError, CliResult, QueueAddArgs, QueueArgs, QueueCommand};
use crate::queue::{
    Added, Backend, Backoff, JobCounts, JobOptions, KeepPolicy, NewJob, QueueError,
};

pub fn run(args: &QueueArgs) -> CliResult {
    // Validate before touching the store, so a typo never creates a database.
    let job = match &args.command {
        QueueCommand::Add(add) => Some(new_job(add)?),
        _ => None,
    };
    let backend = Backend::from_env(&args.data_dir).map_err(|e| store_error(&e, None))?;
    let fail = |e: QueueError| store_error(&e, Some(&backend));
    let rt = runtime()?;
    let queue = rt
        .block_on(async { crate::queue::open(&backend) })
        .map_err(fail)?;
    match (&args.command, job) {
        (QueueCommand::Status(status), _) => {
            let counts = rt.block_on(queue.counts()).map_err(fail)?;
            if status.json {
                let json = serde_json::to_string_pretty(&counts)
                    .map_err(|e| CliError::failure(e.to_string()))?;
                println!("{json}");
            } else {
                print!("{}", render(&counts));
            }
        }
        (QueueCommand::RetryFailed, _) => {
            let moved = rt.block_on(queue.retry_failed()).map_err(fail)?;
            println!("{moved} failed job(s) moved back to waiting");
        }
        (QueueCommand::Add(_), Some(job)) => match rt.block_on(queue.add(job)).map_err(fail)? {
            Added::New(id) => println!("added job {id}"),
            Added::Duplicate(id) => println!("job {id} already exists; nothing added"),
        },
        (QueueCommand::Add(_), None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn store_error(error: &QueueError, backend: Option<&Backend>) -> CliError {
    match error {
        QueueError::Invalid(_) | QueueError::Config(_) => CliError::usage(error.to_string()),
        QueueError::Unavailable(_) => {
            let hint = match backend {
                Some(Backend::Redis(_)) => {
                    "check REDIS_URL (or REDIS_HOST/REDIS_PORT) and that Redis is running"
                }
                _ => "check DATA_DIR (or --data-dir) and that the folder is writable",
            };
            CliError::failure(error.to_string()).hint(hint)
        }
    }
}

fn new_job(args: &QueueAddArgs) -> Result<NewJob, CliError> {
    let data = serde_json::from_str(&args.data)
        .map_err(|e| CliError::usage(format!("--data is not JSON: {e}")))?;
    let delay = match &args.delay {
        Some(text) => parse_duration("--delay", text)?,
        None => Duration::ZERO,
    };
    let job = NewJob {
        name: args.name.clone(),
        data,
        opts: JobOptions {
            job_id: args.job_id.clone(),
            attempts: args.attempts,
            backoff: parse_backoff(&args.backoff)?,
            delay,
            priority: args.priority,
            lifo: args.lifo,
            remove_on_complete: parse_keep(
                "--remove-on-complete",
                args.remove_on_complete.as_deref(),
            )?,
            remove_on_fail: parse_keep("--remove-on-fail", args.remove_on_fail.as_deref())?,
        },
    };
    crate::queue::validate(&job).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(job)
}

fn parse_duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(text).map_err(|_| {
        CliError::usage(format!(
            "{flag} {text:?} is not a duration (e.g. 500ms, 1s, 2m)"
        ))
    })
}

fn parse_keep(flag: &str, text: Option<&str>) -> Result<Option<KeepPolicy>, CliError> {
    let Some(text) = text else { return Ok(None) };
    match text {
        "true" => Ok(Some(KeepPolicy::NONE)),
        "false" => Ok(Some(KeepPolicy::ALL)),
        count => count
            .parse::<u64>()
            .map(|n| {
                Some(KeepPolicy {
                    count: Some(n),
                    age: None,
                })
            })
            .map_err(|_| {
                CliError::usage(format!("{flag} {text:?} must be true, false or a count"))
            }),
    }
}

fn parse_backoff(text: &str) -> Result<Backoff, CliError> {
    let bad = || {
        CliError::usage(format!(
            "--backoff {text:?} must be exponential:DURATION or fixed:DURATION"
        ))
    };
    let (kind, delay) = text.split_once(':').ok_or_else(bad)?;
    let delay = parse_duration("--backoff", delay)?;
    match kind {
        "exponential" => Ok(Backoff::exponential(delay)),
        "fixed" => Ok(Backoff::fixed(delay)),
        _ => Err(bad()),
    }
}

fn render(counts: &JobCounts) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["state", "jobs"]);
    for (state, n) in [
        ("waiting", counts.waiting),
        ("prioritized", counts.prioritized),
        ("delayed", counts.delayed),
        ("active", counts.active),
        ("completed", counts.completed),
        ("failed", counts.failed),
    ] {
        table.add_row(vec![state.to_owned(), n.to_string()]);
    }
    format!("{table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_specs_parse() {
        assert_eq!(
            parse_backoff("exponential:1s").ok(),
            Some(Backoff::exponential(Duration::from_secs(1)))
        );
        assert_eq!(
            parse_backoff("fixed:250ms").ok(),
            Some(Backoff::fixed(Duration::from_millis(250)))
        );
        assert!(parse_backoff("linear:1s").is_err());
        assert!(parse_backoff("1s").is_err());
    }

    #[test]
    fn keep_flags_parse() {
        assert_eq!(parse_keep("--x", None).ok(), Some(None));
        assert_eq!(
            parse_keep("--x", Some("true")).ok(),
            Some(Some(KeepPolicy::NONE))
        );
        assert_eq!(
            parse_keep("--x", Some("false")).ok(),
            Some(Some(KeepPolicy::ALL))
        );
        assert!(parse_keep("--x", Some("3")).is_ok_and(|k| k.and_then(|k| k.count) == Some(3)));
        assert!(parse_keep("--x", Some("maybe")).is_err());
    }
}
