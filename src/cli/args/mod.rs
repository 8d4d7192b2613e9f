//! The clap arguments of the subcommands, one file per group of commands.

mod control;
mod logs;
mod setup;
mod smoke;
mod user;

pub(super) use control::RELOAD_HELP;
pub use control::{
    DescribeArgs, NamesArgs, ReloadArgs, ScaleArgs, SignalArgs, StartArgs, StatusArgs,
};
pub(super) use logs::LOGS_EXAMPLES;
pub use logs::{ColorWhen, LevelArg, LogsArgs};
pub use setup::{CompletionsArgs, ConfigCheckArgs, ConfigCommand, InitSystem, StartupArgs};
pub use smoke::SmokeArgs;
pub(super) use user::USER_EXAMPLES;
pub use user::{RoleArg, UserCommand, UserCreateArgs, UserSetRoleArgs};
