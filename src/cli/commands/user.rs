//! `svc user create | set-role`: accounts written straight into the API's database, so the first
//! administrator can be made before anything runs (no daemon, no API, no default password).
//!
//! The database is found exactly as `svc api` finds it ([`Settings`]): from the environment and
//! `./.env`, or, with `--config`, from the environment the daemon would give the `svc api`
//! program of that svc.toml (its `[env]` and own `env`, relative paths from its `cwd`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::runtime;
use crate::api::settings::{Database, Settings};
use crate::auth::password::hash_blocking;
use crate::cli::{CliError, CliResult, GlobalArgs, RoleArg, UserCommand, UserCreateArgs};
use crate::config::Config;
use crate::domain::{Email, Password, Role, Timestamp, User};
use crate::queue::EMAIL_QUEUE;
use crate::queue::jobs::{JobOrigin, WelcomeEmail};
use crate::store::mongo::MongoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{OutboxMessage, StoreError, UserRepository};

pub fn run(global: &GlobalArgs, command: &UserCommand) -> CliResult {
    let settings = settings(global)?;
    let rt = runtime()?;
    let users = open(&settings)?;
    let now = Timestamp::now();
    match command {
        UserCommand::Create(args) => {
            let (user, password) = new_user(args)?;
            // argon2 takes its time and 19 MiB: not on the runtime's only thread.
            let hash = hash_blocking(&password).map_err(|e| CliError::failure(e.to_string()))?;
            let message = OutboxMessage {
                queue: EMAIL_QUEUE.to_owned(),
                job: WelcomeEmail {
                    user_id: user.id.to_string(),
                    email: user.email.to_string(),
                    name: user.name.clone(),
                    origin: JobOrigin::default(),
                }
                .job(),
            };
            let user = rt
                .block_on(users.insert(user, hash, message))
                .map_err(|e| store_error(e, &args.email))?;
            println!("created {} {} (id {})", user.role, user.email, user.id);
        }
        UserCommand::SetRole(args) => {
            let email = Email::parse(&args.email)
                .map_err(|e| CliError::usage(format!("EMAIL {:?} {e}", args.email)))?;
            let role = match args.role {
                RoleArg::User => Role::User,
                RoleArg::Admin => Role::Admin,
            };
            let user = rt
                .block_on(users.set_role(&email, role, now))
                .map_err(|e| store_error(e, &args.email))?;
            println!("{} is now {}", user.email, user.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The validated account and its password (read from stdin, one line).
fn new_user(args: &UserCreateArgs) -> Result<(User, Password), CliError> {
    let body = serde_json::json!({
        "name": args.name,
        "email": args.email,
        "password": read_password()?,
    });
    let new = crate::domain::NewUser::from_json(&body).map_err(|invalid| {
        let flag = |field: &str| match field {
            "password" => "the password on stdin".to_owned(),
            other => format!("--{other}"),
        };
        let problems: Vec<String> = invalid
            .0
            .iter()
            .map(|p| format!("{} {}", flag(&p.field), p.message))
            .collect();
        CliError::usage(problems.join("; "))
    })?;
    let role = if args.admin { Role::Admin } else { Role::User };
    let user = User::register(new.name, new.email, role, Timestamp::now());
    Ok((user, new.password))
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage(format!("cannot read the password from stdin: {e}")))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(CliError::usage("no password on stdin")
            .hint("pipe it in: printf '%s' \"$PASSWORD\" | svc user create … --password-stdin"));
    }
    Ok(line.to_owned())
}

/// The API's settings for this command line (see the module doc).
fn settings(global: &GlobalArgs) -> Result<Settings, CliError> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    let mut base = PathBuf::from(".");
    match &global.config {
        Some(path) => {
            let config = Config::load(path)?;
            let api = config
                .programs
                .iter()
                .find(|p| p.command.get(1).map(String::as_str) == Some("api"));
            match api {
                Some(program) => {
                    env.extend(program.env.clone());
                    base = program.cwd.clone();
                }
                None => {
                    env.extend(config.env.clone());
                    base = config.file.parent().map_or(base, Path::to_path_buf);
                }
            }
        }
        None => {
            // As `svc api`: ./.env fills what the environment lacks.
            if let Ok(dotenv) = dotenvy::from_path_iter(".env") {
                for (key, value) in dotenv.flatten() {
                    env.entry(key).or_insert(value);
                }
            }
        }
    }
    let mut settings = Settings::from_lookup(|name| env.get(name).cloned()).map_err(|e| {
        CliError::usage(e.to_string()).hint("the same variables as `svc api`: see .env.example")
    })?;
    settings.data_dir = base.join(&settings.data_dir);
    Ok(settings)
}

fn open(settings: &Settings) -> Result<Arc<dyn UserRepository>, CliError> {
    Ok(match &settings.database {
        Database::Embedded => Arc::new(SqliteStore::open_in(&settings.data_dir).map_err(|e| {
            CliError::failure(format!(
                "cannot open the database in {}: {e}",
                settings.data_dir.display()
            ))
            .hint("check DATA_DIR (or --config) and that the folder is writable")
        })?),
        Database::Mongo(config) => Arc::new(MongoStore::new(config.as_ref().clone())),
    })
}

fn store_error(error: StoreError, email: &str) -> CliError {
    match error {
        StoreError::EmailTaken => CliError::failure(format!("{email} is already registered"))
            .hint("make it an administrator with `svc user set-role EMAIL admin`"),
        StoreError::NotFound => CliError::failure(format!("no account {email}"))
            .hint("create it with `svc user create`"),
        other => CliError::failure(format!("the database failed: {other}"))
            .hint("check DB_URL / DATA_DIR and that the database is reachable"),
    }
}
