//! The actor's restart, backoff and stop timing, under paused time, with scripted children
//! behind the [`Launcher`] seam: no process is forked and no real signal is sent.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Cause, Context, InstanceHandle, Snapshot};
use crate::config::{Config, Program, Ready, RestartMode, RestartPolicy};
use crate::logs::{Layout, LogHandle};
use crate::protocol::{ExitInfo, RestartReason, State};
use crate::supervisor::launcher::{Launched, Launcher};
use crate::supervisor::spawn::{Child, Placement};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// The programs' `ready = "uptime"` delay in these tests.
const READY: Duration = Duration::from_millis(50);

/// Scripted pids start here, far above any real one, so a stray signal could reach nobody.
const FIRST_PID: u32 = 4_000_000;

/// What a scripted child does.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Exits by itself with `code` after running for `after`.
    Exit { after: Duration, code: i32 },
    /// Runs until signalled: ends on SIGTERM if `heeds_term`, and on SIGKILL in any case.
    Serve { heeds_term: bool },
    /// Cannot be started at all.
    Unstartable,
}

/// A scripted child that has not ended yet.
struct Alive {
    exit: oneshot::Sender<ExitInfo>,
    heeds_term: bool,
    /// The write ends of its output pipes, closed when it ends, as a real child's are.
    _output: [OwnedFd; 2],
}

#[derive(Default)]
struct Script {
    /// The acts of the next launches, in order; the last one repeats.
    acts: VecDeque<Act>,
    alive: HashMap<u32, Alive>,
    /// When each child was launched.
    launched: Vec<Instant>,
    /// Each signal a living child received, with when.
    signals: Vec<(Signal, Instant)>,
}

/// A [`Launcher`] whose children act by [`Act`], on tokio's (paused) clock.
#[derive(Clone, Default)]
struct Scripted(Arc<Mutex<Script>>);

impl Scripted {
    fn new(acts: &[Act]) -> Scripted {
        let scripted = Scripted::default();
        scripted.lock().acts = acts.iter().copied().collect();
        scripted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn launched(&self) -> Vec<Instant> {
        self.lock().launched.clone()
    }

    fn signals(&self) -> Vec<(Signal, Instant)> {
        self.lock().signals.clone()
    }

    /// Ends child `pid` with `exit`, if it still runs.
    fn end(&self, pid: u32, exit: ExitInfo) {
        let alive = self.lock().alive.remove(&pid);
        if let Some(alive) = alive {
            let _ = alive.exit.send(exit);
        }
    }
}

impl Launcher for Scripted {
    fn launch(&self, _: &Program, _: &Placement<'_>) -> std::io::Result<Launched> {
        let mut script = self.lock();
        let act = if script.acts.len() > 1 {
            script.acts.pop_front()
        } else {
            script.acts.front().copied()
        };
        let act = act.expect("the test scripts at least one act");
        if matches!(act, Act::Unstartable) {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        let pid = FIRST_PID + script.launched.len() as u32;
        let (stdout, stdout_end) = nix::unistd::pipe()?;
        let (stderr, stderr_end) = nix::unistd::pipe()?;
        let (tx, exit) = oneshot::channel();
        script.launched.push(Instant::now());
        script.alive.insert(
            pid,
            Alive {
                exit: tx,
                heeds_term: matches!(act, Act::Serve { heeds_term: true }),
                _output: [stdout_end, stderr_end],
            },
        );
        if let Act::Exit { after, code } = act {
            let scripted = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                scripted.end(pid, ExitInfo::Code(code));
            });
        }
        Ok(Launched {
            child: Child {
                pid,
                stdout,
                stderr,
            },
            exit,
        })
    }

    fn signal(&self, pid: u32, signal: Signal) -> Result<(), Errno> {
        self.signal_group(pid, Some(signal))
    }

    fn signal_group(&self, leader: u32, signal: Option<Signal>) -> Result<(), Errno> {
        let ends = {
            let mut script = self.lock();
            let Some(alive) = script.alive.get(&leader) else {
                return Err(Errno::ESRCH);
            };
            let heeds_term = alive.heeds_term;
            let Some(signal) = signal else {
                return Ok(());
            };
            script.signals.push((signal, Instant::now()));
            (signal == Signal::SIGKILL || (signal == Signal::SIGTERM && heeds_term))
                .then_some(signal)
        };
        if let Some(signal) = ends {
            self.end(leader, ExitInfo::Signal(signal.as_str().to_owned()));
        }
        Ok(())
    }
}

/// One instance actor over scripted children.
struct Fixture {
    handle: InstanceHandle,
    script: Scripted,
    /// Runs the log writer. Its blocking task would keep paused time from advancing on the
    /// test's own runtime.
    writer: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.shutdown_background();
        }
    }
}

/// The restart policy of these tests: 100 ms doubling up to 1 s, stable after 1 s, 3 restarts.
fn policy() -> RestartPolicy {
    RestartPolicy {
        mode: RestartMode::Always,
        delay: MS(100),
        max_delay: MS(1000),
        min_uptime: MS(1000),
        max_restarts: 3,
    }
}

fn program(dir: &Path, tune: impl FnOnce(&mut Program)) -> (Config, Program) {
    std::fs::write(
        dir.join("svc.toml"),
        "[programs.web]\ncommand = [\"web\"]\n",
    )
    .expect("write svc.toml");
    let config = Config::load(&dir.join("svc.toml")).expect("a valid svc.toml");
    let mut program = config.program("web").expect("program web").clone();
    program.restart = policy();
    program.ready = Ready::Uptime { after: READY };
    program.stop_timeout = MS(3000);
    tune(&mut program);
    (config, program)
}

/// An actor for program `web` whose children act by `acts`, its config changed by `tune`.
fn fixture(acts: &[Act], tune: impl FnOnce(&mut Program)) -> Fixture {
    fixture_with(acts, tune, None)
}

/// The same, its events sent to `logs` when given instead of to a real writer.
fn fixture_with(acts: &[Act], tune: impl FnOnce(&mut Program), logs: Option<LogHandle>) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (config, program) = program(dir.path(), tune);
    let (logs, writer) = match logs {
        Some(logs) => (logs, None),
        None => {
            let layout = Layout::from_config(&config);
            layout.prepare().expect("the log folder");
            let writer = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime for the log writer");
            let logs = {
                let _on_writer = writer.enter();
                LogHandle::start(&layout).expect("the log writer").0
            };
            (logs, Some(writer))
        }
    };
    let script = Scripted::new(acts);
    let context = Context {
        launcher: Arc::new(script.clone()),
        logs,
        notify_dir: dir.path().join("notify"),
    };
    let handle = InstanceHandle::spawn(Arc::new(program), None, 0, context);
    Fixture {
        handle,
        script,
        writer,
        _dir: dir,
    }
}

impl Fixture {
    /// The first snapshot that satisfies `wanted`; fails rather than waits forever.
    async fn until(&self, wanted: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let mut status = self.handle.status.clone();
        let found = tokio::time::timeout(Duration::from_secs(600), status.wait_for(wanted))
            .await
            .expect("the state came within 10 minutes")
            .expect("the actor runs");
        found.clone()
    }

    /// The gaps between consecutive launches.
    fn gaps(&self) -> Vec<Duration> {
        let launched = self.script.launched();
        launched.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

fn count(snapshot: &Snapshot, reason: RestartReason) -> u64 {
    let i = RestartReason::ALL
        .iter()
        .position(|r| *r == reason)
        .expect("a known reason");
    snapshot.by_reason[i]
}

#[tokio::test(start_paused = true)]
async fn a_crash_is_restarted_after_the_policys_backoff() {
    let f = fixture(
        &[
            Act::Exit {
                after: MS(10),
                code: 1,
            },
            Act::Serve { heeds_term: true },
        ],
        |_| {},
    );
    f.handle.start().await;
    let online = f.until(|s| s.state == State::Online).await;
    assert_eq!(f.gaps(), [MS(10) + MS(100)]);
    assert_eq!(online.restarts, 1);
    assert_eq!(online.last_exit, Some(ExitInfo::Code(1)));
    assert_eq!(online.last_restart_reason(), Some(RestartReason::Crash));
    let record = online.history.back().expect("one restart recorded");
    assert_eq!(record.detail, "exited with code 1");
    assert_eq!(count(&online, RestartReason::Crash), 1);
}

#[tokio::test(start_paused = true)]
async fn a_crash_is_restarted_on_time_and_stopped_while_the_logs_are_stuck() {
    let (logs, _stuck) = LogHandle::stuck();
    let acts = [
        Act::Exit {
            after: MS(10),
            code: 1,
        },
        Act::Serve { heeds_term: true },
    ];
    let f = fixture_with(&acts, |_| {}, Some(logs));
    f.handle.start().await;
    let online = f.until(|s| s.state == State::Online).await;
    assert_eq!(f.gaps(), [MS(10) + MS(100)]);
    assert_eq!(online.restarts, 1);
    f.handle.stop().await;
    assert_eq!(f.handle.snapshot().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_is_errored_after_max_restarts() {
    let crash = Act::Exit {
        after: MS(10),
        code: 3,
    };
    let f = fixture(&[crash], |p| p.restart.max_restarts = 2);
    f.handle.start().await;
    let errored = f.until(|s| s.state == State::Errored).await;
    // Each unstable restart doubles the delay.
    assert_eq!(f.gaps(), [MS(10) + MS(100), MS(10) + MS(200)]);
    assert_eq!(errored.restarts, 2);
    assert_eq!(
        errored.reason.as_deref(),
        Some("exited with code 3; gave up after 2 unstable restarts")
    );
    assert_eq!(errored.pid, None);
}

#[tokio::test(start_paused = true)]
async fn a_stable_run_resets_the_backoff() {
    let f = fixture(
        &[
            Act::Exit {
                after: MS(10),
                code: 1,
            },
            Act::Exit {
                after: MS(2000),
                code: 1,
            },
            Act::Serve { heeds_term: true },
        ],
        |_| {},
    );
    f.handle.start().await;
    f.until(|s| s.state == State::Online && s.restarts == 2)
        .await;
    // The second run outlived min_uptime (1 s): its backoff starts over at 100 ms.
    assert_eq!(f.gaps(), [MS(10) + MS(100), MS(2000) + MS(100)]);
}

#[tokio::test(start_paused = true)]
async fn stop_sends_sigterm_then_sigkill_after_stop_timeout() {
    let f = fixture(&[Act::Serve { heeds_term: false }], |_| {});
    f.handle.start().await;
    assert_eq!(f.handle.snapshot().state, State::Online);
    let asked = Instant::now();
    f.handle.stop().await;
    assert_eq!(
        f.script.signals(),
        [
            (Signal::SIGTERM, asked),
            (Signal::SIGKILL, asked + MS(3000))
        ]
    );
    let stopped = f.handle.snapshot();
    assert_eq!(stopped.state, State::Stopped);
    assert_eq!(stopped.last_exit, Some(ExitInfo::Signal("SIGKILL".into())));
    assert_eq!(stopped.pid, None);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_heeds_sigterm_is_stopped_at_once() {
    let f = fixture(&[Act::Serve { heeds_term: true }], |_| {});
    f.handle.start().await;
    let asked = Instant::now();
    f.handle.stop().await;
    assert_eq!(Instant::now(), asked, "no wait for stop_timeout");
    assert_eq!(f.script.signals(), [(Signal::SIGTERM, asked)]);
    let stopped = f.handle.snapshot();
    assert_eq!(stopped.state, State::Stopped);
    assert_eq!(stopped.last_exit, Some(ExitInfo::Signal("SIGTERM".into())));
}

#[tokio::test(start_paused = true)]
async fn a_manual_restart_skips_the_backoff_and_records_its_cause() {
    let f = fixture(&[Act::Serve { heeds_term: true }], |_| {});
    f.handle.start().await;
    let cause = Cause {
        reason: RestartReason::Manual,
        detail: "svc restart".into(),
    };
    f.handle
        .restart(cause, false)
        .await
        .expect("a running instance restarts");
    let online = f.handle.snapshot();
    assert_eq!(online.state, State::Online);
    // Started again the moment the old one was gone, without a backoff.
    assert_eq!(f.gaps(), [READY]);
    assert_eq!(
        online.restarts, 0,
        "only the restart policy's restarts count"
    );
    assert_eq!(online.last_restart_reason(), Some(RestartReason::Manual));
    assert_eq!(count(&online, RestartReason::Manual), 1);
    assert_eq!(
        online.history.back().map(|r| r.detail.as_str()),
        Some("svc restart")
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_cancels_the_restart() {
    let crash = Act::Exit {
        after: MS(10),
        code: 1,
    };
    let f = fixture(&[crash], |_| {});
    f.handle.start().await;
    f.until(|s| s.state == State::Backoff).await;
    f.handle.stop().await;
    tokio::time::sleep(MS(5000)).await;
    assert_eq!(f.script.launched().len(), 1);
    assert_eq!(f.handle.snapshot().state, State::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_program_that_cannot_start_is_errored() {
    let f = fixture(&[Act::Unstartable], |_| {});
    assert!(!f.handle.begin().await);
    let errored = f.handle.snapshot();
    assert_eq!(errored.state, State::Errored);
    let reason = errored.reason.expect("a reason");
    assert!(reason.starts_with("cannot start: web: "), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_reload_swaps_in_the_new_process_once_it_is_ready() {
    let f = fixture(&[Act::Serve { heeds_term: true }], |_| {});
    f.handle.start().await;
    let asked = Instant::now();
    let cause = Cause {
        reason: RestartReason::Reload,
        detail: "svc reload".into(),
    };
    f.handle.reload(cause).await.expect("the reload succeeds");
    let online = f.handle.snapshot();
    assert_eq!(online.state, State::Online);
    assert_eq!(online.pid, Some(FIRST_PID + 1));
    // The old process is stopped only once the new one is ready.
    assert_eq!(f.script.signals(), [(Signal::SIGTERM, asked + READY)]);
    assert_eq!(online.last_restart_reason(), Some(RestartReason::Reload));
}

#[tokio::test(start_paused = true)]
async fn a_reload_whose_new_process_dies_keeps_the_old_one() {
    let f = fixture(
        &[
            Act::Serve { heeds_term: true },
            Act::Exit {
                after: MS(10),
                code: 2,
            },
        ],
        |_| {},
    );
    f.handle.start().await;
    let cause = Cause {
        reason: RestartReason::Reload,
        detail: "svc reload".into(),
    };
    let error = f.handle.reload(cause).await.expect_err("the reload fails");
    assert_eq!(
        error.to_string(),
        "reload failed: the new process exited with code 2 before it was ready; \
         the old process keeps running"
    );
    let online = f.handle.snapshot();
    assert_eq!(online.state, State::Online);
    assert_eq!(online.pid, Some(FIRST_PID));
    assert!(f.script.signals().is_empty());
    assert!(online.history.is_empty(), "a failed reload is no restart");
}
