//! The arguments of `svc user`: accounts created and roles changed in the database directly.

use clap::{Args, Subcommand};

pub(in crate::cli) const USER_EXAMPLES: &str = "Examples:
  printf '%s' \"$ADMIN_PASSWORD\" | svc user create --email admin@example.com --name Ada --admin --password-stdin
  svc user set-role ann@example.com admin
  svc --config /etc/svc/svc.toml user set-role ann@example.com user

The database is the one `svc api` uses: DB_URL and DATA_DIR from the environment and ./.env, or,
with --config, the api program's environment in that svc.toml ([env] and its own env).
The password is never printed or logged. There is no default admin and no default password.";

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (an administrator with --admin); the password is read from stdin
    Create(UserCreateArgs),
    /// Make an existing account an administrator (admin) or a plain user (user)
    SetRole(UserSetRoleArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// The account's email address (its login)
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The display name
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Make it an administrator (may change the catalogue and read every user)
    #[arg(long)]
    pub admin: bool,
    /// Read the password from stdin (one line; 8 to 128 characters)
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserSetRoleArgs {
    /// The account's email address
    #[arg(value_name = "EMAIL")]
    pub email: String,
    /// The new role
    #[arg(value_enum, value_name = "ROLE")]
    pub role: RoleArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    User,
    Admin,
}
