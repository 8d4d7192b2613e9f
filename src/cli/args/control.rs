//! The arguments of the commands that ask the daemon: start, stop, restart, reload, scale,
//! describe, status and signal.

use clap::Args;

pub(in crate::cli) const RELOAD_HELP: &str = "Examples:
  svc reload              apply svc.toml: start new programs, drain removed ones, replace changed
                          ones one instance at a time, leave the rest alone (same pids)
  svc reload --dry-run    print what would change, change nothing
  svc reload api          replace every api instance, one at a time, without downtime

Each change is one line: `+ name` started, `- name` removed, `~ name: env.PORT, instances 2→3`.
An invalid svc.toml changes nothing (exit 2, with file:line:column: key), nor does a change of
[daemon] state_dir, log_dir, log_group or metrics, which need `svc stop && svc start`.
SIGHUP to the daemon applies svc.toml too (systemd's ExecReload).

Use `ready = \"notify\"` (svc api speaks it) so readiness is the new process's own, and
`listen = \"IP:PORT\"` so all instances share one accept queue and no connection is dropped.";

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Programs to start (all autostart programs when none is named)
    #[arg(value_name = "PROGRAM")]
    pub names: Vec<String>,
    /// Run the daemon in this process (containers, systemd); Ctrl-C or SIGTERM drains everything
    #[arg(long)]
    pub foreground: bool,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Programs to act on (all when none is named)
    #[arg(value_name = "PROGRAM")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Programs to replace; with none, svc.toml is read again and what changed is applied
    #[arg(value_name = "PROGRAM")]
    pub names: Vec<String>,
    /// Print what applying svc.toml would change, and change nothing
    #[arg(long, conflicts_with = "names")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The program
    #[arg(value_name = "PROGRAM")]
    pub name: String,
    /// How many instances to run (0 drains them all)
    #[arg(value_name = "N")]
    pub instances: u32,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The program
    #[arg(value_name = "PROGRAM")]
    pub name: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON array (one object per instance) instead of a table
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw the table in place every second until Ctrl-C (like `pm2 monit`)
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct SignalArgs {
    /// The program whose instances get the signal
    #[arg(value_name = "PROGRAM")]
    pub name: String,
    /// A signal name: SIGUSR1, USR1, SIGHUP, ...
    #[arg(value_name = "SIGNAL")]
    pub signal: String,
}
