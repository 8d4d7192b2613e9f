//! The arguments of the commands that set svc up: `svc config`, `svc startup` and
//! `svc completions`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate svc.toml and print the resolved configuration
    #[command(
        after_help = "Examples:\n  svc config check\n  svc --config /etc/svc/svc.toml config check\n  svc config check --show-secrets\n\nSecrets are shown as ***: the values of keys containing PASS, SECRET, TOKEN, KEY or\nCREDENTIAL, and the password of any URL (scheme://user:***@host)."
    )]
    Check(ConfigCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Print secret values (passwords, tokens, keys) in clear instead of ***
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct StartupArgs {
    /// The init system
    #[arg(value_enum)]
    pub init: InitSystem,
    /// A unit for the user's own service manager (`systemctl --user`)
    #[arg(long, conflicts_with = "user_name")]
    pub user: bool,
    /// Run the daemon as this account (`User=`, and `Group=` its primary group) instead of
    /// root; its programs then run as that account too, so none may name another `user`
    #[arg(long, value_name = "NAME")]
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InitSystem {
    Systemd,
}
