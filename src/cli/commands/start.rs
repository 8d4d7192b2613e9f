//! `svc start`: start the daemon if needed (detached, or in the foreground), then the programs.

use std::fs::File;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::net::UnixDatagram;

use super::{load_daemon_config, request, runtime, status};
use crate::cli::{CliError, CliResult, GlobalArgs, StartArgs};
use crate::config::Config;
use crate::control::state_dir::{self, PidFile};
use crate::logs::Layout;
use crate::protocol::{Names, Request};
use crate::secure_fs::{self, GuardError, OpenError};

mod resident;

/// How long `svc start` waits for a new daemon to report `READY=1`.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(300);

/// How long to wait for a daemon holding the pid file to answer (another `svc start` is launching
/// it) or to let go of it (it is dying).
const CONCURRENT_START_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(global: &GlobalArgs, args: &StartArgs) -> CliResult {
    let config = load_daemon_config(global)?;
    if args.foreground {
        return foreground(config);
    }
    runtime()?.block_on(async {
        let launched = ensure_daemon(&config).await?;
        // A daemon launched just now has started its autostart programs and reported READY=1
        // once they settled: starting them again would rerun a one-shot program that ended.
        let req = if launched && args.names.is_empty() {
            Request::Status
        } else {
            Request::Start(Names {
                names: args.names.clone(),
            })
        };
        let report = request(&config, &req).await?;
        print!("{}", status::render(&report));
        status::check(&report, |i| {
            if args.names.is_empty() {
                config.program(&i.name).is_some_and(|p| p.autostart)
            } else {
                args.names.contains(&i.name)
            }
        })
    })
}

/// Runs the daemon in this process until `svc stop`, SIGTERM or SIGINT; SIGHUP applies svc.toml.
fn foreground(config: Config) -> CliResult {
    let runtime = resident::runtime()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let shutdown = crate::shutdown::on_terminate()
            .map_err(|e| CliError::failure(format!("cannot install signal handlers: {e}")))?;
        tokio::spawn(resident::shedder());
        crate::supervisor::run(config, shutdown).await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "daemon failed");
            // A folder refused as unsafe is the configuration's to fix: exit 2.
            if e.downcast_ref::<GuardError>().is_some() {
                CliError::usage(format!("{e:#}"))
            } else {
                CliError::failure(format!("{e:#}"))
            }
        })
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Makes sure a daemon answers on the socket, launching one if none runs; true when this call
/// launched it.
async fn ensure_daemon(config: &Config) -> Result<bool, CliError> {
    let mut deadline = tokio::time::Instant::now() + CONCURRENT_START_TIMEOUT;
    loop {
        if crate::control::client::request(&config.socket_path(), &Request::Status)
            .await
            .is_ok()
        {
            return Ok(false);
        }
        // No daemon answers. One holding the pid file is starting (another `svc start` launched
        // it) or dying (killed just now: the lock goes with its last thread), so wait for it to
        // answer or let go; else launch one.
        if !PidFile::is_locked(&config.pid_path()) {
            if launch(config).await? {
                return Ok(true);
            }
            deadline = tokio::time::Instant::now() + CONCURRENT_START_TIMEOUT;
        } else if tokio::time::Instant::now() >= deadline {
            return Err(
                CliError::failure("another daemon is starting but does not answer")
                    .hint(format!("see {}", config.daemon_log_path().display())),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Moves the daemon's own log to `svc.log.1` (replacing the one before) once it is over
/// `max_size` (the `[logs]` policy), so it stays bounded over many starts. The daemon writes a
/// few lines per start and stop there, and its startup errors; programs' output never goes there.
fn keep_bounded(log_path: &std::path::Path, max_size: u64) {
    let size = std::fs::symlink_metadata(log_path).map_or(0, |m| m.len());
    if size > max_size {
        let mut old = log_path.as_os_str().to_owned();
        old.push(".1");
        if let Err(error) = std::fs::rename(log_path, &old) {
            tracing::warn!(%error, path = %log_path.display(), "cannot rotate the daemon's log");
        }
    }
}

/// Launches `svc start --foreground` in a new session, output to `logs/svc.log`, and waits for
/// its `READY=1` (sent once the autostart programs settled) or its exit; false when it exited
/// because another `svc start` won the race (its daemon holds the pid file). The state and log
/// folders are checked first, and `svc.log` opened like every log file (never through a link):
/// what is refused exits 2 naming the path and the fix.
async fn launch(config: &Config) -> Result<bool, CliError> {
    let fail = |what: &str, e: std::io::Error| CliError::failure(format!("{what}: {e}"));
    state_dir::prepare(&config.state_dir).map_err(|e| CliError::usage(e.to_string()))?;
    let layout = Layout::from_config(config);
    layout
        .prepare()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let log_path = config.daemon_log_path();
    keep_bounded(&log_path, config.logs.max_size);
    let log: File = match secure_fs::open_append(&log_path, &layout.file_rule()) {
        Ok(file) => file,
        Err(OpenError::Refused(refusal)) => return Err(CliError::usage(refusal.to_string())),
        Err(OpenError::Io(e)) => {
            return Err(fail(&format!("cannot open {}", log_path.display()), e));
        }
    };
    let log_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let notify_path = config
        .state_dir
        .join(format!("start.{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&notify_path);
    let notify =
        UnixDatagram::bind(&notify_path).map_err(|e| fail("cannot bind the start socket", e))?;
    let _cleanup = RemoveOnDrop(&notify_path);

    let exe = std::env::current_exe().map_err(|e| fail("cannot find this binary", e))?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--config")
        .arg(&config.file)
        .args(["start", "--foreground"])
        .env("NOTIFY_SOCKET", &notify_path)
        .env(crate::supervisor::LAUNCHED_BY_START, "1")
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| fail("cannot share the log file", e))?,
        )
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and session.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut daemon = command
        .spawn()
        .map_err(|e| fail("cannot launch the daemon", e))?;

    let mut buf = [0u8; 256];
    let ready = async {
        loop {
            let n = notify.recv(&mut buf).await?;
            if buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1") {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    tokio::select! {
        result = ready => result.map(|()| true).map_err(|e| fail("waiting for the daemon", e)),
        exit = daemon.wait() => {
            if PidFile::is_locked(&config.pid_path()) {
                return Ok(false);
            }
            let status = exit.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            Err(CliError::failure(format!(
                "the daemon exited during start-up ({status}):\n{}",
                log_tail(&log_path, log_len)
            ))
            .hint(format!("the full log is {}", log_path.display())))
        }
        () = tokio::time::sleep(DAEMON_START_TIMEOUT) => Err(CliError::failure(
            "the daemon did not report ready in time",
        ).hint(format!("see {}", log_path.display()))),
    }
}

/// What the daemon wrote to its log since `from` (at most the last 20 lines).
fn log_tail(path: &Path, from: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}
