//! `svc queue status | retry-failed | add`: the email queue, opened directly from `DATA_DIR`
//! (the embedded store needs no daemon and no worker running).

use std::process::ExitCode;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};

use super::runtime;
use crate::cli::{CliError, CliResult, QueueAddArgs, QueueArgs, QueueCommand};
use crate::queue::sqlite::SqliteQueue;
use crate::queue::{Added, Backoff, JobCounts, JobOptions, NewJob, Queue, QueueError};

pub fn run(args: &QueueArgs) -> CliResult {
    // Validate before touching the store, so a typo never creates a database.
    let job = match &args.command {
        QueueCommand::Add(add) => Some(new_job(add)?),
        _ => None,
    };
    let queue = SqliteQueue::open_in(&args.data_dir).map_err(|e| store_error(&e))?;
    let rt = runtime()?;
    match (&args.command, job) {
        (QueueCommand::Status(status), _) => {
            let counts = rt.block_on(queue.counts()).map_err(|e| store_error(&e))?;
            if status.json {
                let json = serde_json::to_string_pretty(&counts)
                    .map_err(|e| CliError::failure(e.to_string()))?;
                println!("{json}");
            } else {
                print!("{}", render(&counts));
            }
        }
        (QueueCommand::RetryFailed, _) => {
            let moved = rt
                .block_on(queue.retry_failed())
                .map_err(|e| store_error(&e))?;
            println!("{moved} failed job(s) moved back to waiting");
        }
        (QueueCommand::Add(_), Some(job)) => {
            match rt.block_on(queue.add(job)).map_err(|e| store_error(&e))? {
                Added::New(id) => println!("added job {id}"),
                Added::Duplicate(id) => println!("job {id} already exists; nothing added"),
            }
        }
        (QueueCommand::Add(_), None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn store_error(error: &QueueError) -> CliError {
    match error {
        QueueError::Invalid(_) => CliError::usage(error.to_string()),
        QueueError::Unavailable(_) => CliError::failure(error.to_string())
            .hint("check DATA_DIR (or --data-dir) and that the folder is writable"),
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

fn parse_backoff(text: &str) -> Result<Backoff, CliError> {
    let bad = || {
        CliError::usage(format!(
            "--backoff {text:?} must be exponential:DURATION or fixed:DURATION"
        ))
    };
    let (kind, delay) = text.split_once(':').ok_or_else(bad)?;
    let delay = parse_duration("--backoff", delay)?;
    match kind {
        "exponential" => Ok(Backoff::Exponential(delay)),
        "fixed" => Ok(Backoff::Fixed(delay)),
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
            Some(Backoff::Exponential(Duration::from_secs(1)))
        );
        assert_eq!(
            parse_backoff("fixed:250ms").ok(),
            Some(Backoff::Fixed(Duration::from_millis(250)))
        );
        assert!(parse_backoff("linear:1s").is_err());
        assert!(parse_backoff("1s").is_err());
    }
}
