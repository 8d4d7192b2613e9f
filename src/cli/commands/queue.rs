//! `svc queue status | list | show | retry | remove | clean | pause | resume | retry-failed |
//! add`: the email queue, opened directly (no daemon and no worker needed) from the environment
//! like every other part of svc: Redis with BullMQ's layout when `REDIS_URL`/`REDIS_HOST` is
//! set, else the embedded store in `DATA_DIR`. Both backends print the same; what `list` and
//! `show` print is `queue_view`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use comfy_table::{ContentArrangement, Table, presets};

use serde_json::Value;

use super::{queue_view, runtime};
use crate::cli::{CliError, CliResult, QueueAddArgs, QueueArgs, QueueCommand};
use crate::queue::{
    Added, Backend, Backoff, JobChange, JobCounts, JobOptions, JobState, KeepPolicy, NewJob,
    QueueError,
};

pub fn run(args: &QueueArgs) -> CliResult {
    // Validate before touching the store, so a typo never creates a database.
    let job = match &args.command {
        QueueCommand::Add(add) => Some(new_job(add)?),
        _ => None,
    };
    let older_than = match &args.command {
        QueueCommand::Clean(clean) => parse_duration("--older-than", &clean.older_than)?,
        _ => Duration::ZERO,
    };
    let backend = Backend::from_env(&args.data_dir).map_err(|e| store_error(&e, None))?;
    let fail = |e: QueueError| store_error(&e, Some(&backend));
    let rt = runtime()?;
    let queue = rt
        .block_on(async { crate::queue::open(&backend) })
        .map_err(fail)?;
    let queue = queue.as_ref();
    match (&args.command, job) {
        (QueueCommand::Status(status), _) => {
            let (counts, paused) = rt
                .block_on(async { tokio::try_join!(queue.counts(), queue.is_paused()) })
                .map_err(fail)?;
            if status.json {
                let mut json =
                    serde_json::to_value(counts).map_err(|e| CliError::failure(e.to_string()))?;
                json["paused"] = Value::Bool(paused);
                print_json(&json)?;
            } else {
                print!("{}", render(&counts, paused));
            }
        }
        (QueueCommand::List(list), _) => {
            let state = parse_state(&list.state)?;
            let limit = usize::try_from(list.limit).unwrap_or(usize::MAX);
            let jobs = rt.block_on(queue.list(state, limit)).map_err(fail)?;
            let now = SystemTime::now();
            if list.json {
                print_json(&queue_view::list_json(&jobs, now))?;
            } else {
                print!("{}", queue_view::list_table(state, &jobs, now));
            }
        }
        (QueueCommand::Show(show), _) => {
            let job = rt
                .block_on(queue.job(&show.id))
                .map_err(fail)?
                .ok_or_else(|| no_job(&show.id))?;
            let shown = queue_view::show_json(&job, show.show_data);
            if show.json {
                print_json(&shown)?;
            } else {
                print!("{}", queue_view::show_text(&job, &shown, SystemTime::now()));
            }
        }
        (QueueCommand::Retry(target), _) => {
            match rt.block_on(queue.retry_job(&target.id)).map_err(fail)? {
                JobChange::Done => println!("job {} moved back to waiting", target.id),
                JobChange::NotFound => return Err(no_job(&target.id)),
                JobChange::Refused(state) => {
                    return Err(CliError::failure(format!(
                        "job {} is {state}: only a failed or completed job can be retried",
                        target.id
                    )));
                }
            }
        }
        (QueueCommand::Remove(target), _) => {
            match rt.block_on(queue.remove(&target.id)).map_err(fail)? {
                JobChange::Done => println!("removed job {}", target.id),
                JobChange::NotFound => return Err(no_job(&target.id)),
                JobChange::Refused(state) => {
                    return Err(CliError::failure(format!(
                        "job {} is {state}: a worker holds it, so it is not removed",
                        target.id
                    ))
                    .hint(
                        "wait until it finishes, then remove it (svc queue show shows its state)",
                    ));
                }
            }
        }
        (QueueCommand::Clean(clean), _) => {
            let state = parse_state(&clean.state)?;
            let n = rt.block_on(queue.clean(state, older_than)).map_err(fail)?;
            println!("removed {n} {state} job(s) older than {}", clean.older_than);
        }
        (QueueCommand::Pause, _) => {
            rt.block_on(queue.set_paused(true)).map_err(fail)?;
            println!(
                "queue paused: workers take no new jobs, active jobs finish (svc queue resume to continue)"
            );
        }
        (QueueCommand::Resume, _) => {
            rt.block_on(queue.set_paused(false)).map_err(fail)?;
            println!("queue resumed: workers take jobs again");
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

fn print_json(value: &Value) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| CliError::failure(e.to_string()))?;
    println!("{json}");
    Ok(())
}

fn parse_state(text: &str) -> Result<JobState, CliError> {
    text.parse()
        .map_err(|e: QueueError| CliError::usage(e.to_string()))
}

fn no_job(id: &str) -> CliError {
    CliError::failure(format!("no job {id}"))
        .hint("svc queue list STATE shows the ids (completed and failed jobs beyond the keep policy are deleted)")
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

fn render(counts: &JobCounts, paused: bool) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["state", "jobs"]);
    for (state, n) in counts.by_state() {
        table.add_row(vec![state.name().to_owned(), n.to_string()]);
    }
    let queue = if paused {
        "paused: workers take no new jobs (svc queue resume to continue)"
    } else {
        "running"
    };
    format!("{table}\nqueue: {queue}\n")
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
