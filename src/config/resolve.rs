//! Resolution of the raw TOML schema into [`Config`]: defaults applied, paths made absolute, and
//! every semantic problem collected with its location.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::depends;
use super::identity::{self, Loader};
use super::problems::Problems;
use super::raw::{self, RawProgram};
use super::ready::{self, DEFAULT_READY_UPTIME};
use super::triggers::{self, RawTriggers};
use super::{Config, ConfigError, LogGroup, LogPolicy, Program, Ready, RestartPolicy};

/// Most instances one program may ask for; beyond this is a typo, not a plan.
const MAX_INSTANCES: u32 = 256;

/// Log rotation where neither `[logs]` nor a program's `logs` says otherwise.
const DEFAULT_LOGS: LogPolicy = LogPolicy {
    max_size: 10 << 20,
    keep: 10,
    compress: true,
};

/// Parses `text` (the contents of `file`) and resolves it against `dir`, for a daemon running
/// with the ids of `loader` (which `user` and `group` are checked against).
pub(super) fn resolve_for(
    file: &Path,
    text: &str,
    dir: &Path,
    dotenv: BTreeMap<String, String>,
    loader: Loader,
) -> Result<Config, ConfigError> {
    let raw = raw::parse(file, text)?;
    let mut problems = Problems::new(file, text);
    let logs = raw.logs.over(DEFAULT_LOGS);
    let log_group = raw
        .daemon
        .log_group
        .and_then(|name| resolve_log_group(&mut problems, name));
    let mut env = dotenv;
    env.extend(raw.env.into_iter().map(|(k, v)| (k, v.0)));
    check_env_names(&mut problems, "env", 0..0, env.keys());

    let mut depends_spans = BTreeMap::new();
    let programs: Vec<Program> = raw
        .programs
        .into_iter()
        .map(|(name, program)| {
            if let Some(depends_on) = &program.get_ref().depends_on {
                depends_spans.insert(name.clone(), depends_on.span());
            }
            resolve_program(&mut problems, dir, &env, logs, loader, name, program)
        })
        .collect();
    depends::check(&mut problems, &programs, &depends_spans);

    let found = problems.into_found();
    if !found.is_empty() {
        return Err(ConfigError::Invalid { problems: found });
    }
    Ok(Config {
        file: file.to_path_buf(),
        state_dir: dir.join(raw.daemon.state_dir),
        log_dir: dir.join(raw.daemon.log_dir),
        log_group,
        metrics: raw.daemon.metrics,
        logs,
        env,
        programs,
    })
}

fn resolve_program(
    problems: &mut Problems<'_>,
    dir: &Path,
    shared_env: &BTreeMap<String, String>,
    logs: LogPolicy,
    loader: Loader,
    name: String,
    program: Spanned<RawProgram>,
) -> Program {
    let span = program.span();
    let raw = program.into_inner();
    let key = |field: &str| format!("programs.{name}.{field}");

    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.add(
            span.clone(),
            format!("programs.{name}"),
            "a program name may hold only letters, digits, '-' and '_'",
        );
    }
    let command_span = raw.command.span();
    let mut command = raw.command.into_inner();
    if command.first().is_none_or(|c| c.is_empty()) {
        problems.add(
            command_span,
            key("command"),
            "the command must name a program to run, e.g. [\"svc\", \"api\"]",
        );
    } else if command[0] == "svc" {
        command[0] = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "svc".into());
    }
    let instances_span = raw.instances.span();
    let instances = *raw.instances.get_ref();
    if !(1..=MAX_INSTANCES).contains(&instances) {
        problems.add(
            instances_span,
            key("instances"),
            format!("must be between 1 and {MAX_INSTANCES}, not {instances}"),
        );
    }
    let max_delay_span = raw.max_restart_delay.span();
    let max_delay = raw.max_restart_delay.into_inner().0;
    if raw.restart_delay.0 > max_delay {
        problems.add(
            max_delay_span,
            key("max_restart_delay"),
            "must not be shorter than restart_delay",
        );
    }
    check_env_names(problems, &key("env"), span.clone(), raw.env.keys());
    let mut env = shared_env.clone();
    env.extend(raw.env.into_iter().map(|(k, v)| (k, v.0)));

    let ready = match raw.ready {
        None => Ready::Uptime {
            after: DEFAULT_READY_UPTIME,
        },
        Some(spanned) => {
            let ready_span = spanned.span();
            ready::resolve(spanned.into_inner()).unwrap_or_else(|error| {
                problems.add(ready_span, key("ready"), error.to_string());
                Ready::Uptime {
                    after: DEFAULT_READY_UPTIME,
                }
            })
        }
    };

    let listen = raw.listen.and_then(|spanned| {
        let span = spanned.span();
        match spanned.get_ref().parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.add(
                    span,
                    key("listen"),
                    format!(
                        "{:?} is not IP:PORT, e.g. \"127.0.0.1:3000\"",
                        spanned.get_ref()
                    ),
                );
                None
            }
        }
    });

    let run_as = resolve_run_as(problems, loader, &name, raw.user, raw.group);
    let cwd = raw
        .cwd
        .map_or_else(|| dir.to_path_buf(), |cwd| dir.join(cwd));
    let triggers = triggers::resolve(
        problems,
        &name,
        &cwd,
        RawTriggers {
            watch: raw.watch,
            watch_ignore: raw.watch_ignore,
            watch_delay: raw.watch_delay,
            max_memory: raw.max_memory,
            memory_check: raw.memory_check,
            cron_restart: raw.cron_restart,
        },
    );
    let depends_on = raw.depends_on.map_or_else(BTreeMap::new, |spanned| {
        let span = spanned.span();
        let depends_on = spanned.into_inner();
        for repeated in depends_on.repeated {
            problems.add(
                span.clone(),
                key("depends_on"),
                format!("lists {repeated:?} twice"),
            );
        }
        depends_on.names
    });

    Program {
        watch: triggers.watch,
        max_memory: triggers.max_memory,
        cron_restart: triggers.cron_restart,
        depends_on,
        command,
        listen,
        run_as,
        instances,
        cwd,
        env,
        autostart: raw.autostart,
        restart: RestartPolicy {
            mode: raw.restart,
            delay: raw.restart_delay.0,
            max_delay,
            min_uptime: raw.min_uptime.0,
            max_restarts: raw.max_restarts,
        },
        stop_signal: raw.stop_signal,
        stop_timeout: raw.stop_timeout.0,
        ready,
        logs: raw.logs.unwrap_or_default().over(logs),
        name,
    }
}

/// `user` and `group` resolved to ids; a problem (located at the key at fault) when they do not
/// exist, or name another account than a non-root daemon's own.
fn resolve_run_as(
    problems: &mut Problems<'_>,
    loader: Loader,
    name: &str,
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
) -> Option<identity::RunAs> {
    let key = |field: &str| format!("programs.{name}.{field}");
    let Some(user) = user else {
        if let Some(group) = group {
            problems.add(
                group.span(),
                key("group"),
                "`group` needs `user`: name the account the program runs as",
            );
        }
        return None;
    };
    let group_name = group.as_ref().map(|g| g.get_ref().as_str());
    match identity::resolve(user.get_ref(), group_name, loader) {
        Ok(run_as) => Some(run_as),
        Err(error) => {
            let (span, field) = match error.key() {
                identity::Key::Group => (group.map_or_else(|| user.span(), |g| g.span()), "group"),
                identity::Key::User => (user.span(), "user"),
            };
            problems.add(span, key(field), error.to_string());
            None
        }
    }
}

/// `[daemon] log_group`: a group name, or a numeric gid, that exists.
fn resolve_log_group(problems: &mut Problems<'_>, name: Spanned<String>) -> Option<LogGroup> {
    let span = name.span();
    let name = name.into_inner();
    let found = match name.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)),
        Err(_) => nix::unistd::Group::from_name(&name),
    };
    let message = match found {
        Ok(Some(group)) => {
            return Some(LogGroup {
                name,
                gid: group.gid.as_raw(),
            });
        }
        Ok(None) => format!("no group {name:?} on this system"),
        Err(error) => format!("cannot look up group {name:?}: {error}"),
    };
    problems.add(span, "daemon.log_group".into(), message);
    None
}

fn check_env_names<'k>(
    problems: &mut Problems<'_>,
    key: &str,
    span: Range<usize>,
    names: impl Iterator<Item = &'k String>,
) {
    for name in names {
        if name.is_empty() || name.contains(['=', '\0']) {
            problems.add(
                span.clone(),
                format!("{key}.{name}"),
                "an environment variable name may not be empty or hold '=' or NUL",
            );
        }
    }
}
#[cfg(test)]
pub(super) mod tests;
