//! The daemon's answer to each control request, and the state those answers read.

use std::sync::Arc;

use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::instance::{Cause, InstanceError, InstanceHandle, Snapshot};
use super::plan::Plan;
use super::procstat::{self, CpuMeter};
use super::programs::{self, Programs};
use super::request_error::{InstanceFailure, RequestError};
use super::triggers;
use crate::config::{Config, ConfigError};
use crate::control::server::Handler;
use crate::logs::{Layout, LogHandle};
use crate::protocol::{
    ApplyReport, Description, InstanceDescription, InstanceStatus, Request, Response,
    RestartReason, StatusReport,
};

/// The daemon's state: the programs, the config they came from, and what requests need.
pub struct Supervisor {
    pub programs: Arc<Programs>,
    /// svc.toml as last applied. Held across a config reload or a scale, so those happen one
    /// at a time.
    pub config: tokio::sync::Mutex<Config>,
    pub cpu: CpuMeter,
    /// Cancelled to make the daemon exit.
    pub shutdown: CancellationToken,
    /// Requests in flight, so a shutdown answers them before exiting.
    pub connections: TaskTracker,
    /// The log writer: lines it could not write, and `svc logs --rotate`.
    pub logs: LogHandle,
}

#[async_trait::async_trait]
impl Handler for Supervisor {
    async fn handle(&self, request: Request) -> Response {
        let names = match &request {
            Request::Start(n) | Request::Stop(n) | Request::Restart(n) | Request::Reload(n) => {
                n.names.clone()
            }
            Request::Signal(s) => s.names.clone(),
            Request::Scale(s) => vec![s.name.clone()],
            Request::Describe(d) => vec![d.name.clone()],
            Request::Status | Request::RotateLogs | Request::Apply(_) => Vec::new(),
        };
        if let Err(error) = self.check_known(&names) {
            return error.into();
        }
        match request {
            Request::Status => self.status(),
            Request::Start(n) => {
                self.programs.start(&n.names, true).await;
                self.status()
            }
            Request::Stop(n) => {
                if n.names.is_empty() {
                    self.disarm_all_triggers();
                }
                self.programs.stop(&n.names).await;
                if n.names.is_empty() {
                    self.shutdown.cancel();
                }
                self.status()
            }
            Request::Restart(n) => self.restart(&n.names).await,
            Request::Signal(s) => self.signal(&s.names, &s.signal).await,
            Request::RotateLogs => match self.logs.rotate().await {
                Ok(()) => self.status(),
                Err(e) => RequestError::Rotate(e).into(),
            },
            Request::Reload(n) => self.reload(&n.names).await,
            Request::Apply(a) => self.apply(a.dry_run).await,
            Request::Scale(s) => self.scale(&s.name, s.instances).await,
            Request::Describe(d) => self.describe(&d.name).await,
        }
    }
}

impl Supervisor {
    /// Refuses names that match no program.
    fn check_known(&self, names: &[String]) -> Result<(), RequestError> {
        let unknown = self.programs.unknown(names);
        if unknown.is_empty() {
            return Ok(());
        }
        Err(RequestError::UnknownPrograms {
            unknown: unknown.into_iter().map(str::to_owned).collect(),
            running: self.programs.names(),
        })
    }

    fn status(&self) -> Response {
        Response::Status(self.report())
    }

    /// The state of every instance, with its process figures.
    pub fn report(&self) -> StatusReport {
        let instances: Vec<(InstanceHandle, Snapshot)> = self
            .programs
            .all_instances()
            .into_iter()
            .map(|handle| {
                let snapshot = handle.snapshot();
                (handle, snapshot)
            })
            .collect();
        let live: Vec<u32> = instances.iter().filter_map(|(_, s)| s.pid).collect();
        self.cpu.retain(&live);
        StatusReport {
            daemon_pid: std::process::id(),
            instances: instances
                .iter()
                .map(|(handle, snapshot)| self.instance_status(handle, snapshot))
                .collect(),
            log_lines_dropped: self.logs.dropped_total(),
            log_refused: self.logs.refused(),
        }
    }

    fn instance_status(&self, handle: &InstanceHandle, snapshot: &Snapshot) -> InstanceStatus {
        let running = snapshot.pid.zip(snapshot.since);
        InstanceStatus {
            name: handle.name.to_string(),
            instance: handle.index,
            pid: snapshot.pid,
            state: snapshot.state,
            restarts: snapshot.restarts,
            uptime_secs: running.map(|(_, since)| since.elapsed().as_secs()),
            memory_bytes: running.and_then(|(pid, _)| procstat::rss_bytes(pid)),
            cpu_percent: running.and_then(|(pid, since)| self.cpu.percent(pid, since)),
            last_exit: snapshot.last_exit.clone(),
            reason: snapshot.reason.clone(),
            log_lines_dropped: self.logs.dropped(&handle.name, handle.index),
            last_restart_reason: snapshot.last_restart_reason(),
            restarts_by_reason: RestartReason::ALL
                .into_iter()
                .zip(snapshot.by_reason)
                .filter(|(_, count)| *count > 0)
                .collect(),
        }
    }

    /// `svc restart`: stop and start each instance (starting stopped and errored ones too).
    async fn restart(&self, names: &[String]) -> Response {
        let cause = || Cause {
            reason: RestartReason::Manual,
            detail: "svc restart".into(),
        };
        let selected = self.programs.select(names, false);
        programs::in_parallel(selected, move |i| {
            let cause = cause();
            async move {
                let _ = i.restart(cause, true).await;
            }
        })
        .await;
        self.status()
    }

    /// Reloads the instances one at a time, so the others serve meanwhile; stops at the first
    /// failure (whose old process keeps running).
    async fn reload(&self, names: &[String]) -> Response {
        for instance in self.programs.select(names, false) {
            let cause = Cause {
                reason: RestartReason::Reload,
                detail: "svc reload".into(),
            };
            if let Err(source) = instance.reload(cause).await {
                return RequestError::Instance(failure(&instance, source)).into();
            }
        }
        self.status()
    }

    async fn signal(&self, names: &[String], signal: &str) -> Response {
        let signal: Signal = match signal.parse::<crate::config::values::SignalName>() {
            Ok(s) => s.0,
            Err(message) => return RequestError::BadSignal(message).into(),
        };
        let mut failures = Vec::new();
        for instance in self.programs.select(names, false) {
            if let Err(source) = instance.signal(signal).await {
                failures.push(failure(&instance, source));
            }
        }
        if failures.is_empty() {
            self.status()
        } else {
            RequestError::NotSignalled(failures).into()
        }
    }

    /// SIGHUP: apply svc.toml, logging what changed or why nothing did.
    pub async fn apply_on_hangup(&self) {
        match self.apply(false).await {
            Response::Applied(report) => {
                tracing::info!(
                    changes = %report.changes.join("; "),
                    failures = %report.failures.join("; "),
                    "SIGHUP: svc.toml applied"
                );
            }
            Response::Error(reply) => {
                tracing::error!(error = %reply.message, "SIGHUP: svc.toml not applied");
            }
            _ => {}
        }
    }

    /// Re-reads svc.toml and applies what changed: removed programs drain and go, changed ones
    /// are reloaded one instance at a time (or only take their new settings, when no process
    /// needs replacing), rescaled ones start or drain the difference, new ones start. An
    /// invalid file, or a `[daemon]` setting that cannot change live, changes nothing.
    async fn apply(&self, dry_run: bool) -> Response {
        let mut config = self.config.lock().await;
        let new = match Config::load(&config.file) {
            Ok(new) => new,
            Err(e @ ConfigError::Invalid { .. }) => return RequestError::InvalidConfig(e).into(),
            Err(e) => return RequestError::UnreadableConfig(e).into(),
        };
        let plan = Plan::between(&config, &self.programs.counts(), &new);
        if !plan.refused.is_empty() {
            return RequestError::RefusedDaemonKeys(plan.refused).into();
        }
        let changes = plan.lines();
        if dry_run || plan.is_empty() {
            return Response::Applied(ApplyReport {
                changes,
                dry_run,
                failures: Vec::new(),
                status: self.report(),
            });
        }
        let mut failures = match self.carry_out(&plan, &new).await {
            Ok(failures) => failures,
            Err(e) => return RequestError::NotApplied(e).into(),
        };
        let layout = Layout::from_config(&new);
        if layout != Layout::from_config(&config)
            && let Err(e) = self.relayout(layout).await
        {
            failures.push(format!("logs: {e:#}"));
        }
        *config = new;
        Response::Applied(ApplyReport {
            changes,
            dry_run: false,
            failures,
            status: self.report(),
        })
    }

    /// Applies `plan`; returns the changes that failed. Every new listening socket is bound
    /// first, so an address in use changes nothing.
    async fn carry_out(&self, plan: &Plan, new: &Config) -> anyhow::Result<Vec<String>> {
        let mut added = Vec::new();
        for program in &plan.added {
            added.push((program.clone(), programs::bind_listener(program)?));
        }
        let mut changed = Vec::new();
        for change in &plan.changed {
            let old = self.programs.with(&change.program.name, |e| {
                (e.program.listen, e.listener.clone())
            });
            let listener = match old {
                Some((addr, listener)) if addr == change.program.listen => listener,
                _ => programs::bind_listener(&change.program)?,
            };
            changed.push((change, listener));
        }

        for name in &plan.removed {
            self.disarm_triggers(name);
            self.programs.remove(name).await;
        }
        let mut failures = Vec::new();
        for (change, listener) in changed {
            let program = change.program.clone();
            self.disarm_triggers(&program.name);
            self.programs.adopt(program.clone(), listener).await;
            if change.replace {
                let detail = format!("svc.toml changed: {}", change.keys.join(", "));
                failures.extend(self.replace(&program.name, &detail).await);
            }
            if let Some((_, to)) = change.instances {
                self.programs.resize(&program.name, to).await;
            }
            self.programs.with(&program.name, |e| e.scaled = false);
            self.arm_triggers(new, &program.name);
        }
        for (program, listener) in added {
            self.programs.add(program.clone(), listener);
            self.arm_triggers(new, &program.name);
        }
        let autostart: Vec<String> = plan
            .added
            .iter()
            .filter(|p| p.autostart)
            .map(|p| p.name.clone())
            .collect();
        if !autostart.is_empty() {
            self.programs.start(&autostart, false).await;
        }
        Ok(failures)
    }

    /// Has the log writer rotate by the new policies (a program given its own log needs its
    /// folder first).
    async fn relayout(&self, layout: Layout) -> anyhow::Result<()> {
        layout.prepare()?;
        self.logs.relayout(layout).await?;
        Ok(())
    }

    /// Puts the program's new config into its running processes, one instance at a time: an
    /// online instance is reloaded (no gap), one still starting is restarted, an errored one is
    /// given a fresh start; stopped and exited ones take it at their next start.
    async fn replace(&self, name: &str, detail: &str) -> Vec<String> {
        use crate::protocol::State;
        let mut failures = Vec::new();
        for instance in self.programs.select(&[name.to_owned()], false) {
            let cause = Cause {
                reason: RestartReason::Reload,
                detail: detail.to_owned(),
            };
            let result = match instance.snapshot().state {
                State::Online => instance.reload(cause).await,
                State::Starting | State::Stopping => instance.restart(cause, false).await,
                State::Errored => instance.restart(cause, true).await,
                State::Backoff | State::Stopped | State::Exited => Ok(()),
            };
            if let Err(source) = result {
                failures.push(failure(&instance, source).to_string());
            }
        }
        failures
    }

    /// `svc scale NAME N`: start or drain instances now, until the next config reload.
    async fn scale(&self, name: &str, count: u32) -> Response {
        const MAX: u32 = 1024;
        if count > MAX {
            return RequestError::TooManyInstances {
                requested: count,
                max: MAX,
            }
            .into();
        }
        let config = self.config.lock().await;
        let configured = config.program(name).map_or(count, |p| p.instances);
        let before = self.programs.counts().get(name).copied().unwrap_or(0);
        self.programs.resize(name, count).await;
        self.programs.with(name, |e| e.scaled = count != configured);
        let mut changes = vec![format!("~ {name}: instances {before}→{count}")];
        if count != configured {
            changes.push(format!(
                "  until the next config reload: svc.toml has instances = {configured}, which `svc reload` returns to"
            ));
        }
        Response::Applied(ApplyReport {
            changes,
            dry_run: false,
            failures: Vec::new(),
            status: self.report(),
        })
    }

    /// `svc describe NAME`.
    async fn describe(&self, name: &str) -> Response {
        let Some((program, scaled, instances)) = self
            .programs
            .with(name, |e| (e.program.clone(), e.scaled, e.instances.clone()))
        else {
            return RequestError::UnknownProgram(name.to_owned()).into();
        };
        let mut shown = (*program).clone();
        crate::config::secrets::mask_program(&mut shown);
        let config = serde_json::to_value(&shown).unwrap_or_default();
        let log_files = log_files(&*self.config.lock().await, name);
        let scaled_to = scaled.then_some(instances.len() as u32);
        let instances = instances
            .iter()
            .map(|handle| {
                let snapshot = handle.snapshot();
                InstanceDescription {
                    status: self.instance_status(handle, &snapshot),
                    history: snapshot.history.into_iter().collect(),
                }
            })
            .collect();
        Response::Description(Box::new(Description {
            name: name.to_owned(),
            config,
            scaled_to,
            instances,
            log_files,
            next_cron_restart: triggers::next_cron_run(&program),
        }))
    }

    /// Starts the watch, memory and cron tasks of every program.
    pub fn arm_all_triggers(&self, config: &Config) {
        for name in self.programs.names() {
            self.arm_triggers(config, &name);
        }
    }

    /// Starts the watch, memory and cron tasks of one program (each only if configured).
    fn arm_triggers(&self, config: &Config, name: &str) {
        let Some(program) = self.programs.with(name, |e| e.program.clone()) else {
            return;
        };
        let ignored = triggers::ignored_dirs(config, &program);
        let guard = triggers::arm(program, &ignored, Arc::downgrade(&self.programs));
        self.programs.with(name, |e| e.triggers = guard);
    }

    fn disarm_triggers(&self, name: &str) {
        self.programs.with(name, |e| e.triggers = None);
    }

    /// Stops every trigger task (before a full stop, so nothing restarts what is draining).
    pub fn disarm_all_triggers(&self) {
        for name in self.programs.names() {
            self.disarm_triggers(&name);
        }
    }
}

/// The files the program's lines go to: its own log when its policy gives it one, `app.log`,
/// and `error.log` for its stderr and errors.
fn log_files(config: &Config, name: &str) -> Vec<String> {
    let layout = Layout::from_config(config);
    layout
        .program(name)
        .into_iter()
        .chain([layout.app(), layout.error()])
        .map(|family| family.link().display().to_string())
        .collect()
}

/// `source` as the failure of `instance`.
fn failure(instance: &InstanceHandle, source: InstanceError) -> InstanceFailure {
    InstanceFailure {
        program: instance.name.clone(),
        index: instance.index,
        source,
    }
}
