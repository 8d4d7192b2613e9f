//! One file per client command; this dispatcher is the only `match` over them.

mod completions;
mod config;
mod describe;
mod logs;
mod queue;
mod queue_view;
mod reload;
mod signal;
mod smoke;
mod start;
mod startup;
mod status;
mod stop;
mod user;

use std::process::ExitCode;

use super::{Cli, CliError, CliResult, Command, GlobalArgs};
use crate::config::{Config, ConfigError, Loader};
use crate::control::client::{self, ClientError};
use crate::protocol::{Request, Response, StatusReport};

/// Runs one parsed command line.
///
/// # Errors
/// A [`CliError`] carrying the message, hint and exit code to report.
pub fn run(cli: Cli) -> CliResult {
    // The daemon, `svc api`, `svc worker` and every command make private files and folders
    // unless they set a mode on purpose; programs the daemon starts inherit this.
    crate::secure_fs::restrict_umask();
    let global = &cli.global;
    match cli.command {
        Command::Api => return Ok(crate::api::main()),
        Command::Worker => return Ok(crate::worker::main()),
        Command::Start(ref args) if args.foreground => crate::telemetry::init_json(std::io::stderr),
        _ => crate::telemetry::init_cli(global.verbose),
    }
    match cli.command {
        Command::Start(args) => start::run(global, &args),
        Command::Stop(args) => stop::run(global, &args.names),
        Command::Restart(args) => {
            status::run_request(global, Request::Restart(names(args.names)), true)
        }
        Command::Reload(args) if args.names.is_empty() => reload::apply(global, args.dry_run),
        Command::Reload(args) => {
            status::run_request(global, Request::Reload(names(args.names)), true)
        }
        Command::Scale(args) => reload::scale(global, &args),
        Command::Describe(args) => describe::run(global, &args),
        Command::Status(args) => status::run(global, &args),
        Command::Signal(args) => signal::run(global, &args),
        Command::Logs(args) => logs::run(global, &args),
        Command::Config(super::ConfigCommand::Check(args)) => config::check(global, &args),
        Command::Startup(args) => startup::run(global, &args),
        Command::Completions(args) => completions::run(&args),
        Command::Queue(args) => queue::run(&args),
        Command::Smoke(args) => smoke::run(&args),
        Command::User(command) => user::run(global, &command),
        Command::Api | Command::Worker => Ok(ExitCode::SUCCESS),
    }
}

fn names(names: Vec<String>) -> crate::protocol::Names {
    crate::protocol::Names { names }
}

/// Loads the config named by `--config`, `$SVC_CONFIG`, or `./svc.toml`, as a client reads it:
/// for its paths and settings, whoever the daemon runs as. Programs' `user` keys are resolved
/// but not held against this process (whoever may read a root daemon's logs may run `svc logs`).
fn load_config(global: &GlobalArgs) -> Result<Config, CliError> {
    let path = Config::locate(global.config.as_deref());
    Ok(Config::load_for(&path, Loader::ROOT)?)
}

/// The config of a command that only talks to the running daemon. While the file does not load
/// (an edit in progress, say), the daemon runs on its last valid config, so it is still reached
/// where the file's `[daemon]` paths (or the defaults) put it: `svc status` and `svc stop` keep
/// working. With no daemon there, the file's problems are the error.
fn reach_daemon(global: &GlobalArgs) -> Result<Config, CliError> {
    let (config, _) = last_valid(global, |config| client::answers(&config.socket_path()))?;
    Ok(config)
}

/// The config, or, while the file is invalid, [`Config::fallback`] when `usable` finds what the
/// daemon made where it points (its socket, its logs), with the problems printed as a warning.
/// Whether it is the fallback (which names no programs) comes along.
fn last_valid(
    global: &GlobalArgs,
    usable: impl Fn(&Config) -> bool,
) -> Result<(Config, bool), CliError> {
    let path = Config::locate(global.config.as_deref());
    let problems = match Config::load_for(&path, Loader::ROOT) {
        Ok(config) => return Ok((config, false)),
        Err(problems @ ConfigError::Invalid { .. }) => problems,
        Err(other) => return Err(other.into()),
    };
    match Config::fallback(&path).filter(|config| usable(config)) {
        Some(config) => {
            eprintln!(
                "warning: {problems}\n  hint: used the daemon's files where `[daemon]` (or the defaults) puts them; a running daemon keeps its last valid config until the file is fixed and `svc reload` applies it"
            );
            Ok((config, true))
        }
        None => Err(problems.into()),
    }
}

/// Loads the config as the daemon this process runs (or checks it for) will: a `user` other than
/// this process's own is refused unless it is root.
fn load_daemon_config(global: &GlobalArgs) -> Result<Config, CliError> {
    let path = Config::locate(global.config.as_deref());
    Ok(Config::load(&path)?)
}

/// The client's runtime: one thread is plenty for one request.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the runtime: {e}")))
}

/// Sends `request` to the daemon of `config`, expecting the status table back.
async fn request(config: &Config, request: &Request) -> Result<StatusReport, CliError> {
    match send(config, request).await? {
        Response::Status(report) => Ok(report),
        _ => Err(CliError::failure("the daemon answered with something else")),
    }
}

/// Sends `request` to the daemon of `config`; an error reply becomes a [`CliError`] (exit 2
/// when it says the config file is invalid).
async fn send(config: &Config, request: &Request) -> Result<Response, CliError> {
    match client::request(&config.socket_path(), request).await {
        Ok(Response::Error(reply)) if reply.invalid_config => Err(CliError::usage(reply.message)),
        Ok(Response::Error(reply)) => Err(CliError::failure(reply.message)),
        Ok(response) => Ok(response),
        Err(ClientError::NotRunning(_)) => Err(CliError::daemon_down(format!(
            "the daemon for {} is not running",
            config.file.display()
        ))),
        Err(other) => Err(CliError::failure(other.to_string())),
    }
}
