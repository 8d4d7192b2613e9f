//! The command line: one clap definition that also generates `completions/` and `man/`.

pub mod commands;
pub mod exit;
pub mod generated;

mod args;

pub use args::{
    ColorWhen, CompletionsArgs, ConfigCheckArgs, ConfigCommand, DescribeArgs, InitSystem, LevelArg,
    LogsArgs, NamesArgs, ReloadArgs, RoleArg, ScaleArgs, SignalArgs, SmokeArgs, StartArgs,
    StartupArgs, StatusArgs, UserCommand, UserCreateArgs, UserSetRoleArgs,
};
use args::{LOGS_EXAMPLES, RELOAD_HELP, USER_EXAMPLES};

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::queue::JobState;

pub use exit::{CliError, CliResult};

const EXAMPLES: &str = "\
Examples:
  svc start                 start the daemon and every program in ./svc.toml
  svc status                one line per instance
  svc logs api -n 200       the last 200 lines of the api
  svc restart api           stop and start the api
  svc reload                apply a changed svc.toml, touching only what changed
  svc describe api          config, instances and restart history of the api
  svc stop                  drain everything, then the daemon exits

Exit codes: 0 ok, 1 failure, 2 usage or config error, 3 daemon not running.";

/// A process manager and the service it runs, in one binary.
#[derive(Debug, Parser)]
#[command(name = "svc", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// The config file [default: ./svc.toml]
    #[arg(short, long, global = true, env = "SVC_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// More output on stderr (-v, -vv, -vvv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the daemon if needed, then the named programs (every autostart one when none is named)
    #[command(
        after_help = "Examples:\n  svc start\n  svc start worker\n  svc start --foreground    # containers and systemd: Ctrl-C or SIGTERM drains all"
    )]
    Start(StartArgs),
    /// Drain the named programs gracefully; with no name, everything, then the daemon exits
    #[command(after_help = "Examples:\n  svc stop worker\n  svc stop")]
    Stop(NamesArgs),
    /// Stop and start the named programs (all when none is named); clears `errored`
    #[command(after_help = "Examples:\n  svc restart api\n  svc restart")]
    Restart(NamesArgs),
    /// Apply a changed svc.toml (no names), or restart the named programs one instance at a time
    /// without downtime: start a new process, wait until it is ready, then drain the old one
    #[command(after_help = RELOAD_HELP)]
    Reload(ReloadArgs),
    /// Run N instances of a program now, until the next `svc reload` returns to svc.toml's number
    #[command(
        after_help = "Examples:\n  svc scale api 4\n  svc scale worker 0    # drain every worker, keep the program"
    )]
    Scale(ScaleArgs),
    /// Show one program in detail: its resolved config (secrets masked), each instance's pid,
    /// state and uptime, its latest restarts and why, readiness, log files, next cron restart
    #[command(
        after_help = "Examples:\n  svc describe api\n  svc describe api --json | jq '.instances[].history'"
    )]
    Describe(DescribeArgs),
    /// Show every instance: pid, state, uptime, restarts, CPU, memory, last exit
    #[command(
        after_help = "Examples:\n  svc status\n  svc status --json | jq '.[] | select(.state != \"online\")'"
    )]
    Status(StatusArgs),
    /// Send a signal to every instance of a program
    #[command(after_help = "Examples:\n  svc signal api SIGUSR1\n  svc signal worker HUP")]
    Signal(SignalArgs),
    /// Show the programs' logs (current and rotated files, gzip included); no daemon needed
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(LogsArgs),
    /// Check and print the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a boot-time unit that runs the daemon for this svc.toml
    #[command(
        after_help = "Examples:\n  svc startup systemd > /etc/systemd/system/svc.service && systemctl enable --now svc\n  svc startup systemd --user-name svc > /etc/systemd/system/svc.service\n  svc startup systemd --user > ~/.config/systemd/user/svc.service\n\nThe unit is hardened (read-only system, private /tmp, no new privileges, a minimal capability\nbounding set); the folders the daemon and its programs write (state, logs, DATA_DIR) are its\nReadWritePaths= and must exist before it starts."
    )]
    Startup(StartupArgs),
    /// Print shell completions
    #[command(
        after_help = "Examples:\n  svc completions bash > /etc/bash_completion.d/svc\n  svc completions zsh > \"${fpath[1]}/_svc\""
    )]
    Completions(CompletionsArgs),
    /// Run the HTTP API (normally started by the daemon from svc.toml)
    #[command(after_help = "Examples:\n  PORT=8080 svc api")]
    Api,
    /// Run the email-queue worker (normally started by the daemon from svc.toml)
    #[command(after_help = "Examples:\n  WORKER_CONCURRENCY=10 svc worker")]
    Worker,
    /// Post-deploy smoke test: health, readiness, a throw-away sign-up whose welcome email must
    /// complete through the target's queue, then cleanup; one line per step, exit 0 or 1
    #[command(
        after_help = "Examples:\n  svc smoke                                   # http://127.0.0.1:3000\n  svc smoke https://api.example.com --timeout 2m\n  svc smoke https://staging.internal --cacert ca.pem\n  kubectl port-forward svc/svc-api 3000:80 & svc smoke http://127.0.0.1:3000\n\nSteps: health, ready, sign-up, login (the user's own access token), welcome-email (read with it),\ncleanup (the user soft-deletes itself with its token, also after a failure; when the login\nfailed it cannot, and stderr names the user for an admin to remove).\nThe password and the token are never printed.\nExit codes: 0 every step passed, 1 a step failed (named on stderr), 2 bad arguments."
    )]
    Smoke(SmokeArgs),
    /// Inspect and feed the email queue directly (no daemon needed)
    #[command(
        after_help = "Examples:\n  svc queue status\n  svc queue status --json\n  svc queue list failed\n  svc queue show welcome-1\n  svc queue retry welcome-1\n  svc queue remove welcome-1\n  svc queue clean completed --older-than 7d\n  svc queue pause\n  svc queue resume\n  svc queue retry-failed\n  svc queue add welcome-email --data '{\"userId\":\"1\",\"email\":\"a@example.com\",\"name\":\"A\"}' --job-id welcome-1 --attempts 3"
    )]
    Queue(QueueArgs),
    /// Create accounts and change roles in the API's database directly (no daemon or API needed)
    #[command(subcommand, after_help = USER_EXAMPLES)]
    User(UserCommand),
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The folder holding svc.db (relative to the current folder); unused with REDIS_URL/REDIS_HOST
    #[arg(
        long,
        global = true,
        env = "DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Jobs per state: waiting, prioritized, delayed, active, completed, failed; and whether paused
    Status(QueueStatusArgs),
    /// The jobs in one state: id, name, attempts made, age, and the reason of a failed job
    List(QueueListArgs),
    /// One job: data (addresses masked), options, attempts, failures, timestamps, request id
    Show(QueueShowArgs),
    /// Send one failed or completed job back to waiting, with fresh attempts
    Retry(QueueIdArgs),
    /// Delete one job (an active job is refused: a worker holds it)
    Remove(QueueIdArgs),
    /// Delete the jobs in one state older than a duration
    Clean(QueueCleanArgs),
    /// Stop every worker (svc's and Node BullMQ's) from taking jobs; active jobs finish
    Pause,
    /// Let the workers take jobs again
    Resume,
    /// Move every failed job back to waiting, with fresh attempts
    RetryFailed,
    /// Add a job (idempotent with --job-id)
    Add(QueueAddArgs),
}

#[derive(Debug, Args)]
pub struct QueueStatusArgs {
    /// Print a JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

/// The states `svc queue list` shows, in the order its help names them.
const LIST_STATES: [&str; 6] = JobState::names([
    JobState::Waiting,
    JobState::Active,
    JobState::Delayed,
    JobState::Prioritized,
    JobState::Completed,
    JobState::Failed,
]);

/// The states `svc queue clean` empties (active jobs are held by workers).
const CLEAN_STATES: [&str; 5] = JobState::names([
    JobState::Waiting,
    JobState::Delayed,
    JobState::Prioritized,
    JobState::Completed,
    JobState::Failed,
]);

#[derive(Debug, Args)]
pub struct QueueListArgs {
    /// The state to list
    #[arg(value_name = "STATE", value_parser = LIST_STATES)]
    pub state: String,
    /// Show at most this many jobs (the next to leave the state first)
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueueShowArgs {
    /// The job's id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Show email addresses in full (masked by default: a***@example.com)
    #[arg(long)]
    pub show_data: bool,
    /// Print a JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueueIdArgs {
    /// The job's id
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct QueueCleanArgs {
    /// The state to clean
    #[arg(value_name = "STATE", value_parser = CLEAN_STATES)]
    pub state: String,
    /// Delete the jobs older than this (finished for completed and failed jobs, else created), e.g. 7d, 12h
    #[arg(long, required = true, value_name = "DURATION")]
    pub older_than: String,
}

#[derive(Debug, Args)]
pub struct QueueAddArgs {
    /// The job's name, e.g. welcome-email
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The job's data, a JSON value
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub data: String,
    /// A custom job id: adding the same id again does nothing
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// Total attempts (1 = no retry)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub attempts: u32,
    /// The wait before a retry: exponential:DURATION (doubles each time) or fixed:DURATION
    #[arg(long, default_value = "exponential:1s", value_name = "KIND:DURATION")]
    pub backoff: String,
    /// Run no earlier than this from now, e.g. 1s, 500ms, 2m
    #[arg(long, value_name = "DURATION")]
    pub delay: Option<String>,
    /// 0 = none; otherwise lower runs first (at most 2097152)
    #[arg(long, default_value_t = 0)]
    pub priority: u32,
    /// Put the job in front of the waiting jobs (last in, first out)
    #[arg(long)]
    pub lifo: bool,
    /// Keep the job once completed: true (remove it), false (keep it) or a count of jobs to keep
    #[arg(long, value_name = "true|false|COUNT")]
    pub remove_on_complete: Option<String>,
    /// Keep the job once failed: true (remove it), false (keep it) or a count of jobs to keep
    #[arg(long, value_name = "true|false|COUNT")]
    pub remove_on_fail: Option<String>,
}

/// The full clap command, for completions and the man page.
pub fn command() -> clap::Command {
    Cli::command()
}
