//! The raw TOML schema of svc.toml and its resolution into [`Config`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use super::depends::{self, RawDependsOn};
use super::identity::{self, Loader};
use super::triggers::{self, RawTriggers};
use super::values::{ByteSize, EnvValue, HumanDuration, SignalName};
use super::{Config, ConfigError, LogGroup, LogPolicy, Problem, Program, Ready, RestartPolicy};

/// Most instances one program may ask for; beyond this is a typo, not a plan.
const MAX_INSTANCES: u32 = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    env: BTreeMap<String, EnvValue>,
    #[serde(default)]
    logs: RawLogs,
    #[serde(default)]
    programs: BTreeMap<String, Spanned<RawProgram>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    #[serde(default = "default_log_dir")]
    log_dir: PathBuf,
    /// `IP:PORT` for the daemon's Prometheus endpoint; off when absent.
    metrics: Option<std::net::SocketAddr>,
    /// A group (name or id) that may read the logs.
    log_group: Option<Spanned<String>>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            state_dir: default_state_dir(),
            log_dir: default_log_dir(),
            metrics: None,
            log_group: None,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("run")
}
fn default_log_dir() -> PathBuf {
    PathBuf::from("logs")
}

/// `[logs]`, and a program's `logs` override (where every key is optional).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawLogs {
    max_size: Option<ByteSize>,
    keep: Option<u32>,
    compress: Option<bool>,
}

impl RawLogs {
    fn over(self, base: LogPolicy) -> LogPolicy {
        LogPolicy {
            max_size: self.max_size.map_or(base.max_size, |s| s.0),
            keep: self.keep.unwrap_or(base.keep),
            compress: self.compress.unwrap_or(base.compress),
        }
    }
}

const DEFAULT_LOGS: LogPolicy = LogPolicy {
    max_size: 10 << 20,
    keep: 10,
    compress: true,
};

/// `always | on-failure | never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    command: Spanned<Vec<String>>,
    #[serde(default = "one")]
    instances: Spanned<u32>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, EnvValue>,
    #[serde(default = "yes")]
    autostart: bool,
    #[serde(default)]
    restart: RestartMode,
    #[serde(default = "default_restart_delay")]
    restart_delay: HumanDuration,
    #[serde(default = "default_max_restart_delay")]
    max_restart_delay: Spanned<HumanDuration>,
    #[serde(default = "default_min_uptime")]
    min_uptime: HumanDuration,
    #[serde(default = "default_max_restarts")]
    max_restarts: u32,
    #[serde(default = "default_stop_signal")]
    stop_signal: SignalName,
    #[serde(default = "default_stop_timeout")]
    stop_timeout: HumanDuration,
    ready: Option<Spanned<RawReady>>,
    listen: Option<Spanned<String>>,
    logs: Option<RawLogs>,
    /// The account to run as (a root daemon drops the child to it); the daemon's own when absent.
    user: Option<Spanned<String>>,
    /// The group to run as; the user's primary group when absent.
    group: Option<Spanned<String>>,
    /// Paths whose changes restart the program (see `triggers.rs` for these six keys).
    watch: Option<Spanned<Vec<PathBuf>>>,
    watch_ignore: Option<Spanned<Vec<Spanned<String>>>>,
    watch_delay: Option<Spanned<HumanDuration>>,
    max_memory: Option<Spanned<ByteSize>>,
    memory_check: Option<Spanned<HumanDuration>>,
    cron_restart: Option<Spanned<String>>,
    /// Programs to start first (see `depends.rs`).
    depends_on: Option<Spanned<RawDependsOn>>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn yes() -> bool {
    true
}
fn default_restart_delay() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}
fn default_max_restart_delay() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(Duration::from_secs(30)))
}
fn default_min_uptime() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_max_restarts() -> u32 {
    10
}
fn default_stop_signal() -> SignalName {
    SignalName(nix::sys::signal::Signal::SIGTERM)
}
fn default_stop_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// How long a readiness check may take before the start counts as failed.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Without a readiness check, a program is online once it has stayed up this long.
pub(super) const DEFAULT_READY_UPTIME: Duration = Duration::from_secs(1);

/// `ready = "notify"`, or a table `{ http = URL | tcp = ADDR | notify = true | uptime = "1s", timeout = "30s" }`.
struct RawReady(ReadyTable);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReadyTable {
    http: Option<String>,
    tcp: Option<String>,
    notify: Option<bool>,
    uptime: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
}

impl<'de> Deserialize<'de> for RawReady {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawReady;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""notify" or a table like { http = "http://127.0.0.1:3000/ready" }"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawReady, E> {
                match v {
                    "notify" => Ok(RawReady(ReadyTable {
                        notify: Some(true),
                        ..ReadyTable::default()
                    })),
                    other => Err(E::custom(format!(
                        "unknown readiness {other:?}; use \"notify\", {{ http = URL }} or {{ tcp = ADDR }}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawReady, A::Error> {
                ReadyTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawReady)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Collects semantic problems, locating each by its span in the text.
pub(super) struct Problems<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<Problem>,
}

impl Problems<'_> {
    pub(super) fn add(&mut self, span: Range<usize>, key: String, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.found.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            key,
            message: message.into(),
        });
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Parses `text` (the contents of `file`) and resolves it against `dir`, for a daemon running
/// with the ids of `loader` (which `user` and `group` are checked against).
pub(super) fn resolve_for(
    file: &Path,
    text: &str,
    dir: &Path,
    dotenv: BTreeMap<String, String>,
    loader: Loader,
) -> Result<Config, ConfigError> {
    let raw = parse(file, text)?;
    let mut problems = Problems {
        file,
        text,
        found: Vec::new(),
    };
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

    if !problems.found.is_empty() {
        return Err(ConfigError::Invalid {
            problems: problems.found,
        });
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

/// The TOML parse: the first syntax or type error, with its line and key.
fn parse(file: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let problem = |span: Option<Range<usize>>, key: String, message: String| {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Invalid {
            problems: vec![Problem {
                file: file.to_path_buf(),
                line,
                column,
                key,
                message,
            }],
        }
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| problem(e.span(), "(syntax)".into(), e.message().to_owned()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let key = match key.as_str() {
            "." => "(top level)".into(),
            // An empty TOML key (`"" = 1`) would otherwise leave the key blank.
            "" => "\"\"".into(),
            _ => key,
        };
        problem(inner.span(), key, inner.message().to_owned())
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
            resolve_ready(spanned.into_inner().0).unwrap_or_else(|message| {
                problems.add(ready_span, key("ready"), message);
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
        Err((identity::Key::Group, message)) => {
            let span = group.map_or_else(|| user.span(), |g| g.span());
            problems.add(span, key("group"), message);
            None
        }
        Err((identity::Key::User, message)) => {
            problems.add(user.span(), key("user"), message);
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

fn resolve_ready(table: ReadyTable) -> Result<Ready, String> {
    let timeout = table.timeout.map_or(DEFAULT_READY_TIMEOUT, |t| t.0);
    if let Some(after) = table.uptime {
        if table.http.is_some() || table.tcp.is_some() || table.notify.is_some() {
            return Err("name only one readiness check: http, tcp, notify or uptime".into());
        }
        return Ok(Ready::Uptime { after: after.0 });
    }
    match (table.http, table.tcp, table.notify.unwrap_or(false)) {
        (Some(url), None, false) => {
            let target = super::HttpTarget::parse(&url)?;
            Ok(Ready::Http {
                url,
                target,
                timeout,
            })
        }
        (None, Some(addr), false) => {
            if addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(format!("tcp readiness needs HOST:PORT, not {addr:?}"));
            }
            Ok(Ready::Tcp { addr, timeout })
        }
        (None, None, true) => Ok(Ready::Notify { timeout }),
        (None, None, false) => Err("name one readiness check: http, tcp, notify or uptime".into()),
        _ => Err("name only one readiness check: http, tcp, notify or uptime".into()),
    }
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
pub(super) mod tests {
    use super::*;

    /// Loads `text` as `/x/svc.toml` (programs run from `/x`).
    pub(in crate::config) fn load(text: &str) -> Result<Config, ConfigError> {
        resolve_for(
            Path::new("/x/svc.toml"),
            text,
            Path::new("/x"),
            BTreeMap::new(),
            Loader::current(),
        )
    }

    /// The problems loading `text` finds, each as `svc config check` prints it.
    pub(in crate::config) fn problems(text: &str) -> Vec<String> {
        match load(text) {
            Err(ConfigError::Invalid { problems }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../svc.toml");
        let config = load(text).expect("svc.toml parses");
        assert!(config.program("api").is_some());
        assert!(config.program("worker").is_some());
        assert_eq!(
            config.program("api").unwrap().max_memory.map(|m| m.bytes),
            Some(1 << 30)
        );
        // The keys the file shows commented out parse too.
        let mut shown = text.to_owned();
        for key in ["cron_restart", "depends_on", "watch"] {
            shown = shown.replace(&format!("\n# {key}"), &format!("\n{key}"));
        }
        let config = load(&shown).expect("svc.toml with its commented keys parses");
        let (api, worker) = (
            config.program("api").unwrap(),
            config.program("worker").unwrap(),
        );
        assert_eq!(api.cron_restart.as_ref().unwrap().expression(), "0 4 * * *");
        assert_eq!(worker.depends_on.len(), 1);
        let watch = worker.watch.as_ref().unwrap();
        assert_eq!(watch.paths, [Path::new("/x/templates")]);
        assert_eq!(watch.ignore.patterns().len(), 2);
        assert_eq!(watch.delay, Duration::from_millis(500));
    }

    #[test]
    fn log_group_names_a_group_that_exists() {
        let config = load("[daemon]\nlog_group = \"root\"\n").unwrap();
        assert_eq!(
            config.log_group,
            Some(LogGroup {
                name: "root".into(),
                gid: 0
            })
        );
        assert_eq!(
            load("[daemon]\nlog_group = \"0\"\n")
                .unwrap()
                .log_group
                .map(|g| g.gid),
            Some(0)
        );
        assert!(load("").unwrap().log_group.is_none());
        let found = problems("[daemon]\nstate_dir = \"run\"\nlog_group = \"no-such-group-here\"\n");
        assert_eq!(
            found,
            vec![
                "/x/svc.toml:3:13: daemon.log_group: no group \"no-such-group-here\" on this system"
            ]
        );
    }

    #[test]
    fn defaults_apply_to_a_minimal_program() {
        let config = load("[programs.web]\ncommand = [\"sleep\", \"1\"]\n").unwrap();
        let web = config.program("web").unwrap();
        assert_eq!(web.instances, 1);
        assert_eq!(web.restart.delay, Duration::from_millis(100));
        assert_eq!(web.restart.max_delay, Duration::from_secs(30));
        assert_eq!(web.stop_timeout, Duration::from_secs(10));
        assert_eq!(web.cwd, Path::new("/x"));
        assert_eq!(config.state_dir, Path::new("/x/run"));
        assert_eq!(
            web.ready,
            Ready::Uptime {
                after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let found = problems("[programs.web]\ncommand = [\"x\"]\nrestrat = \"always\"\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("/x/svc.toml:3:1: programs.web"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("restrat"), "{}", found[0]);
    }

    #[test]
    fn bad_duration_names_its_key() {
        let found = problems("[programs.web]\ncommand = [\"x\"]\nrestart_delay = \"soon\"\n");
        assert!(found[0].contains(":3:"), "{}", found[0]);
        assert!(
            found[0].contains("programs.web.restart_delay"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("invalid duration"), "{}", found[0]);
    }

    #[test]
    fn bad_signal_and_wrong_type_are_refused() {
        let found = problems("[programs.web]\ncommand = [\"x\"]\nstop_signal = \"SIGNOPE\"\n");
        assert!(
            found[0].contains("programs.web.stop_signal"),
            "{}",
            found[0]
        );
        let found = problems("[programs.web]\ncommand = [\"x\"]\ninstances = \"two\"\n");
        assert!(found[0].contains("programs.web.instances"), "{}", found[0]);
    }

    #[test]
    fn missing_command_is_refused() {
        let found = problems("[programs.web]\ninstances = 2\n");
        assert!(found[0].contains("programs.web"), "{}", found[0]);
        assert!(found[0].contains("command"), "{}", found[0]);
    }

    #[test]
    fn semantic_problems_are_reported_all_at_once() {
        let found = problems(
            "[programs.a]\ncommand = []\ninstances = 0\n\n[programs.b]\ncommand = [\"x\"]\nrestart_delay = \"10s\"\nmax_restart_delay = \"1s\"\nready = { http = \"ftp://nope\" }\n",
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("/x/svc.toml:2:"), "{}", found[0]);
        assert!(found[1].starts_with("/x/svc.toml:3:"), "{}", found[1]);
        assert!(
            found[2].contains("programs.b.max_restart_delay"),
            "{}",
            found[2]
        );
        assert!(found[3].contains("programs.b.ready"), "{}", found[3]);
    }

    #[test]
    fn env_values_merge_with_program_env_winning() {
        let config = load(
            "[env]\nLOG_LEVEL = \"info\"\nPORT = 1\n[programs.web]\ncommand = [\"x\"]\nenv = { PORT = 3000, DEBUG = true }\n",
        )
        .unwrap();
        let env = &config.program("web").unwrap().env;
        assert_eq!(env["PORT"], "3000");
        assert_eq!(env["DEBUG"], "true");
        assert_eq!(env["LOG_LEVEL"], "info");
    }

    #[test]
    fn ready_forms_parse() {
        let config = load(
            "[programs.a]\ncommand = [\"x\"]\nready = \"notify\"\n[programs.b]\ncommand = [\"x\"]\nready = { tcp = \"127.0.0.1:80\", timeout = \"2s\" }\n",
        )
        .unwrap();
        assert!(matches!(
            config.program("a").unwrap().ready,
            Ready::Notify { .. }
        ));
        assert_eq!(
            config.program("b").unwrap().ready,
            Ready::Tcp {
                addr: "127.0.0.1:80".into(),
                timeout: Duration::from_secs(2)
            }
        );
    }

    fn problems_for(text: &str, loader: Loader) -> Vec<String> {
        match resolve_for(
            Path::new("/x/svc.toml"),
            text,
            Path::new("/x"),
            BTreeMap::new(),
            loader,
        ) {
            Err(ConfigError::Invalid { problems }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_daemon_that_is_not_root_refuses_another_user_with_file_line_and_key() {
        let daemon = Loader {
            uid: 4321,
            gid: 4321,
        };
        let found = problems_for(
            "[programs.web]\ncommand = [\"x\"]\nuser = \"nobody\"\n",
            daemon,
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("/x/svc.toml:3:8: programs.web.user: cannot run as \"nobody\""),
            "{}",
            found[0]
        );
        let found = problems_for(
            "[programs.web]\ncommand = [\"x\"]\nuser = \"nobody\"\ngroup = \"root\"\n",
            Loader {
                uid: 65534,
                gid: 4321,
            },
        );
        assert!(
            found[0].starts_with("/x/svc.toml:4:9: programs.web.group: cannot run with group"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn user_and_group_resolve_for_a_root_daemon_and_unknown_ones_are_refused() {
        let root = Loader { uid: 0, gid: 0 };
        let config = resolve_for(
            Path::new("/x/svc.toml"),
            "[programs.web]\ncommand = [\"x\"]\nuser = \"nobody\"\n[programs.plain]\ncommand = [\"x\"]\n",
            Path::new("/x"),
            BTreeMap::new(),
            root,
        )
        .unwrap();
        let run_as = config.program("web").unwrap().run_as.as_ref().unwrap();
        assert_eq!((run_as.user.as_str(), run_as.uid), ("nobody", 65534));
        assert!(config.program("plain").unwrap().run_as.is_none());

        let found = problems_for(
            "[programs.a]\ncommand = [\"x\"]\nuser = \"no-such-user-here\"\n[programs.b]\ncommand = [\"x\"]\ngroup = \"root\"\n[programs.c]\ncommand = [\"x\"]\nuser = \"nobody\"\ngroup = \"no-such-group-here\"\n",
            root,
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].starts_with("/x/svc.toml:3:8: programs.a.user: no user"),
            "{}",
            found[0]
        );
        assert!(
            found[1].starts_with("/x/svc.toml:6:9: programs.b.group: `group` needs `user`"),
            "{}",
            found[1]
        );
        assert!(
            found[2].starts_with("/x/svc.toml:10:9: programs.c.group: no group"),
            "{}",
            found[2]
        );
    }
}
