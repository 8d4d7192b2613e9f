//! The restarts a program asks for in svc.toml: on a change under `watch`, when an instance
//! stays above `max_memory`, and on the `cron_restart` schedule. One task per configured
//! trigger, stopped by the guard [`arm`] returns (when the program changes or goes).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use tokio_util::sync::{CancellationToken, DropGuard};

use super::cron::{self, SystemClock};
use super::instance::{Cause, InstanceHandle};
use super::memory::{self, OverLimit};
use super::programs::Programs;
use super::watch::{self, ProgramWatch};
use crate::config::{Config, MemoryLimit, Program, Ready};
use crate::protocol::{RestartReason, State};

/// Starts the trigger tasks `program` configures; `None` when it has none. `ignored` are the
/// folders a watch never reacts to (the daemon's logs and state, the program's data).
pub fn arm(
    program: Arc<Program>,
    ignored: &[PathBuf],
    programs: Weak<Programs>,
) -> Option<DropGuard> {
    if program.watch.is_none() && program.max_memory.is_none() && program.cron_restart.is_none() {
        return None;
    }
    let token = CancellationToken::new();
    if program.watch.is_some() {
        match watch::start(&program, ignored) {
            Ok((watcher, changes)) => {
                tokio::spawn(on_change(
                    watcher,
                    changes,
                    program.clone(),
                    programs.clone(),
                    token.clone(),
                ));
            }
            Err(error) => {
                tracing::error!(program = %program.name, error = format!("{error:#}"), "cannot watch; changes will not restart it");
            }
        }
    }
    if let Some(limit) = program.max_memory {
        tokio::spawn(on_memory(
            limit,
            program.clone(),
            programs.clone(),
            token.clone(),
        ));
    }
    if program.cron_restart.is_some() {
        tokio::spawn(on_schedule(program, programs, token.clone()));
    }
    Some(token.drop_guard())
}

/// The folders a watch of `program` never reacts to: the daemon's logs and state, its data.
pub fn ignored_dirs(config: &Config, program: &Program) -> Vec<PathBuf> {
    watch::ignored_dirs(config, program)
}

/// The next `cron_restart` of `program`, as local RFC 3339 time.
pub fn next_cron_run(program: &Program) -> Option<String> {
    let next = program
        .cron_restart
        .as_ref()?
        .next_after(std::time::SystemTime::now())?;
    let local: chrono::DateTime<chrono::Local> = next.into();
    Some(local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

/// Restarts every instance once per burst of changes under the watched paths.
async fn on_change(
    _watcher: ProgramWatch,
    mut changes: tokio::sync::mpsc::Receiver<PathBuf>,
    program: Arc<Program>,
    programs: Weak<Programs>,
    stop: CancellationToken,
) {
    loop {
        let changed = tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.recv() => match changed {
                Some(path) => path,
                None => return,
            },
        };
        let cause = Cause {
            reason: RestartReason::Watch,
            detail: format!("{} changed", changed.display()),
        };
        if !restart_all(&program, &programs, &cause, &stop).await {
            return;
        }
    }
}

/// Every `check`, reads each instance's memory (its whole process group); one above the limit
/// on two checks in a row is restarted.
async fn on_memory(
    limit: MemoryLimit,
    program: Arc<Program>,
    programs: Weak<Programs>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(limit.check);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per instance index: the pid watched, and its strikes.
    let mut watched: HashMap<u32, (u32, OverLimit)> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(instances) = instances_of(&programs, &program.name) else {
            return;
        };
        for instance in instances {
            let Some(pid) = instance.snapshot().pid else {
                watched.remove(&instance.index);
                continue;
            };
            let (watched_pid, strikes) = watched
                .entry(instance.index)
                .or_insert_with(|| (pid, OverLimit::new(limit.bytes)));
            if *watched_pid != pid {
                // A new process starts with a clean slate.
                *watched_pid = pid;
                strikes.reset();
            }
            let rss = memory::group_rss_bytes(pid);
            if strikes.check(rss) {
                let cause = Cause {
                    reason: RestartReason::Memory,
                    detail: format!(
                        "{} MiB above max_memory {} MiB on two checks in a row",
                        rss.unwrap_or(0) >> 20,
                        limit.bytes >> 20
                    ),
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = restart_each(&program, vec![instance], &cause) => {}
                }
            }
        }
    }
}

/// Restarts every instance at each time of the `cron_restart` schedule.
async fn on_schedule(program: Arc<Program>, programs: Weak<Programs>, stop: CancellationToken) {
    let Some(schedule) = program.cron_restart.clone() else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = cron::wait_next(&schedule, &SystemClock) => {}
        }
        let cause = Cause {
            reason: RestartReason::Cron,
            detail: format!("cron_restart \"{}\"", schedule.expression()),
        };
        if !restart_all(&program, &programs, &cause, &stop).await {
            return;
        }
    }
}

/// Restarts every instance of `program` (see [`restart_each`]); false once the program is gone
/// or the trigger is stopped.
async fn restart_all(
    program: &Program,
    programs: &Weak<Programs>,
    cause: &Cause,
    stop: &CancellationToken,
) -> bool {
    let Some(instances) = instances_of(programs, &program.name) else {
        return false;
    };
    tokio::select! {
        () = stop.cancelled() => false,
        () = restart_each(program, instances, cause) => true,
    }
}

fn instances_of(programs: &Weak<Programs>, name: &str) -> Option<Vec<InstanceHandle>> {
    let programs = programs.upgrade()?;
    Some(programs.select(&[name.to_owned()], false))
}

/// Restarts the running instances one at a time: without a gap (a reload) when the program
/// can be replaced that way (a shared `listen` socket, or its own readiness by `notify`), else
/// by a stop and a start. Instances that do not run are left alone.
async fn restart_each(program: &Program, instances: Vec<InstanceHandle>, cause: &Cause) {
    let seamless = program.listen.is_some() || matches!(program.ready, Ready::Notify { .. });
    for instance in instances {
        let state = instance.snapshot().state;
        let result = match state {
            State::Online if seamless => instance.reload(cause.clone()).await,
            State::Online | State::Starting => instance.restart(cause.clone(), false).await,
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(program = %program.name, instance = instance.index, %error, reason = cause.reason.as_str(), "restart failed");
        }
    }
}
