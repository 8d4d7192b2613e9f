use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::resolve_for;
use crate::config::{Config, ConfigError, Loader, LogGroup, Ready};

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
    let text = include_str!("../../../svc.toml");
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
        vec!["/x/svc.toml:3:13: daemon.log_group: no group \"no-such-group-here\" on this system"]
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

#[test]
fn a_broken_file_still_gives_the_daemon_paths_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.toml");
    std::fs::write(
        &file,
        "[daemon]\nstate_dir = \"state\"\nlog_dir = \"/var/log/x\"\n\n[programs.a]\ncommand = [\"sleep\"\nbogus = 1\n",
    )
    .unwrap();
    assert!(Config::load(&file).is_err());
    let fallback = Config::fallback(&file).unwrap();
    assert_eq!(fallback.state_dir, dir.path().join("state"));
    assert_eq!(fallback.log_dir, Path::new("/var/log/x"));
    assert!(fallback.programs.is_empty());

    std::fs::write(&file, "[daemon\nstate_dir = 7\n").unwrap();
    let fallback = Config::fallback(&file).unwrap();
    assert_eq!(fallback.state_dir, dir.path().join("run"), "the default");
    assert_eq!(fallback.log_dir, dir.path().join("logs"));
    assert!(Config::fallback(&dir.path().join("missing.toml")).is_none());
}
