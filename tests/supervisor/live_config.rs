//! The daemon follows svc.toml while it runs: `svc reload` (and SIGHUP) applies an edit and
//! touches only what changed, `svc scale`, `depends_on` order, restart reasons and
//! `svc describe`; the real binary, a real daemon, real processes.

use crate::common::harness;
use crate::common::wait::wait_until;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harness::*;
use serde_json::Value;

fn program(name: &str, command: &str, extra: &str) -> String {
    format!("[programs.{name}]\ncommand = [\"sh\", \"-c\", {command:?}]\n{extra}\n")
}

/// A readiness that needs no waiting, so tests do not sit out the default uptime.
const QUICK: &str = "ready = { uptime = \"100ms\" }";

/// Pids by `name[index]`.
fn pids(project: &Project) -> BTreeMap<String, i32> {
    project
        .status()
        .iter()
        .map(|i| {
            (
                format!("{}[{}]", i["name"].as_str().unwrap(), i["instance"]),
                pid_of(i),
            )
        })
        .collect()
}

fn environ(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', "\n")
}

/// A Python HTTP server on a shared `listen` socket that reports readiness, with `env`.
fn web(port: u16, env: &str) -> String {
    let script = format!(
        "{}/tests/fixtures/http_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    format!(
        "[programs.web]\ncommand = [\"python3\", {script:?}]\ninstances = 2\nlisten = \"127.0.0.1:{port}\"\nready = {{ notify = true, timeout = \"5s\" }}\nenv = {{ {env} }}\n"
    )
}

/// GETs in a loop on new connections until stopped: (answered, failures).
fn request_loop(port: u16) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u32, Vec<String>)>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, Vec::new());
        while !flag.load(Ordering::Relaxed) {
            match http(port, "GET", "/", &[], "") {
                Ok((200, _)) => ok += 1,
                Ok((status, body)) => failed.push(format!("{status} {body}")),
                Err(e) => failed.push(e),
            }
        }
        (ok, failed)
    });
    (done, handle)
}

#[test]
fn an_edit_adds_removes_rescales_and_changes_programs_and_leaves_the_rest_alone() {
    let port = free_port();
    let before = format!(
        "{}{}{}{}",
        program("a", "exec sleep 300", &format!("instances = 1\n{QUICK}")),
        program("b", "exec sleep 300", QUICK),
        program("d", "exec sleep 300", QUICK),
        web(port, "GREETING = \"one\""),
    );
    let project = Project::new(&before);
    project.start();
    let old = pids(&project);

    let after = format!(
        "{}{}{}{}",
        program("a", "exec sleep 300", &format!("instances = 2\n{QUICK}")),
        program("c", "exec sleep 300", QUICK),
        program("d", "exec sleep 300", QUICK),
        web(port, "GREETING = \"two\""),
    );
    std::fs::write(project.config(), &after).unwrap();

    let plan = project.svc(&["reload", "--dry-run"]);
    assert_ok(&plan, "svc reload --dry-run");
    let printed = stdout(&plan);
    for line in ["+ c", "- b", "~ a: instances 1→2", "~ web: env.GREETING"] {
        assert!(
            printed.contains(line),
            "{line:?} missing from the plan:\n{printed}"
        );
    }
    assert_eq!(pids(&project), old, "a dry run changed something");

    let (done, load) = request_loop(port);
    // Pacing: the load runs before, during and after the reload.
    std::thread::sleep(Duration::from_millis(200));
    let out = project.svc(&["reload"]);
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    assert_ok(&out, "svc reload");
    let printed = stdout(&out);
    for line in ["+ c", "- b", "~ a: instances 1→2", "~ web: env.GREETING"] {
        assert!(printed.contains(line), "{line:?} missing:\n{printed}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the reload: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 10, "only {ok} requests made it through");

    let new = pids(&project);
    assert_eq!(new.get("a[0]"), old.get("a[0]"), "a[0] was restarted");
    assert_eq!(
        new.get("d[0]"),
        old.get("d[0]"),
        "unchanged d was restarted"
    );
    assert!(
        new.contains_key("a[1]") && new.contains_key("c[0]"),
        "{new:?}"
    );
    assert!(
        !new.contains_key("b[0]"),
        "removed b is still in status: {new:?}"
    );
    assert!(!alive(old["b[0]"]), "removed b still runs");
    for index in 0..2 {
        let key = format!("web[{index}]");
        assert_ne!(new[&key], old[&key], "{key} kept its old process");
        assert!(!alive(old[&key]), "the old {key} still runs");
        assert!(
            environ(new[&key]).contains("GREETING=two"),
            "{key} runs without the new env"
        );
    }
    for instance in project.status() {
        assert_eq!(instance["state"], "online", "{instance:#}");
    }
    let web = project.instance("web", 0);
    assert_eq!(web["last_restart_reason"], "reload", "{web:#}");
    assert_eq!(web["restarts"], 0, "a reload is not a crash restart");

    // The same file again changes nothing.
    let again = project.svc(&["reload"]);
    assert_ok(&again, "svc reload (no change)");
    assert!(
        stdout(&again).contains("nothing changed"),
        "{}",
        stdout(&again)
    );
    assert_eq!(pids(&project), new);
}

#[test]
fn a_broken_edit_or_a_daemon_setting_changes_nothing() {
    let good = program("a", "exec sleep 300", QUICK);
    let project = Project::new(&good);
    project.start();
    let old = pids(&project);

    std::fs::write(
        project.config(),
        format!("{good}bogus = 1\n{}", program("c", "exec sleep 300", QUICK)),
    )
    .unwrap();
    let out = project.svc(&["reload"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("svc.toml:4:") && message.contains("programs.a.bogus"),
        "{message}"
    );
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(old.values().all(|pid| alive(*pid)));
    std::fs::write(project.config(), &good).unwrap();
    assert_eq!(pids(&project), old);

    std::fs::write(
        project.config(),
        format!("[daemon]\nmetrics = \"127.0.0.1:{}\"\n{good}", free_port()),
    )
    .unwrap();
    let out = project.svc(&["reload"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[daemon] metrics cannot change while the daemon runs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pids(&project), old);
}

#[test]
fn while_the_file_is_broken_status_and_stop_still_reach_the_daemon() {
    let good = format!(
        "[daemon]\nstate_dir = \"state\"\n{}",
        program("a", "exec sleep 300", QUICK)
    );
    let project = Project::new(&good);
    project.start();
    let a = pids(&project)["a[0]"];
    // A syntax error below `[daemon]`, as in the middle of an edit.
    std::fs::write(
        project.config(),
        format!("{good}[programs.b]\ncommand = [\"sleep\"\n"),
    )
    .unwrap();

    let out = project.svc(&["status"]);
    assert_ok(&out, "svc status with a broken svc.toml");
    let warning = stderr(&out);
    assert!(
        warning.contains("warning: ")
            && warning.contains("svc.toml:")
            && warning.contains("svc reload"),
        "{warning}"
    );
    assert!(stdout(&out).contains(&a.to_string()), "{}", stdout(&out));

    let daemon = std::fs::read_to_string(project.path("state/svc.pid")).unwrap();
    let daemon: i32 = daemon.trim().parse().unwrap();
    let out = project.svc(&["stop"]);
    assert_ok(&out, "svc stop with a broken svc.toml");
    assert!(!alive(daemon) && !alive(a));

    // The logs are files: read where the daemon wrote them, whether it runs or not.
    let out = project.svc(&["logs", "a"]);
    assert_ok(&out, "svc logs with a broken svc.toml");
    assert!(stderr(&out).contains("warning: "), "{}", stderr(&out));
    assert!(stdout(&out).contains("svc: stopped"), "{}", stdout(&out));

    // With no daemon to reach, the file's problems are the error, as for every other command.
    let out = project.svc(&["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
}

#[test]
fn sighup_applies_the_file_and_an_unchanged_file_keeps_every_pid() {
    let project = Project::new(&program("a", "exec sleep 300", QUICK));
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let old = pids(&project);

    kill(daemon, "HUP");
    // The first SIGHUP may be read after this edit: the daemon then sees the whole new file.
    project.replace_config(&format!(
        "{}{}",
        program("a", "exec sleep 300", QUICK),
        program("c", "exec sleep 300", QUICK)
    ));
    kill(daemon, "HUP");
    wait_until("c online after SIGHUP", || {
        project
            .status()
            .iter()
            .any(|i| i["name"] == "c" && i["state"] == "online")
    });
    assert!(alive(daemon));
    assert_eq!(pids(&project)["a[0]"], old["a[0]"]);
}

#[test]
fn scale_starts_and_drains_now_and_a_reload_returns_to_the_file() {
    let project = Project::new(&program(
        "a",
        "exec sleep 300",
        &format!("instances = 2\n{QUICK}"),
    ));
    project.start();
    let first = pids(&project);

    let out = project.svc(&["scale", "a", "4"]);
    assert_ok(&out, "svc scale a 4");
    assert!(
        stdout(&out).contains("~ a: instances 2→4"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("instances = 2"), "{}", stdout(&out));
    let scaled = project.status();
    assert_eq!(scaled.len(), 4);
    assert!(scaled.iter().all(|i| i["state"] == "online"));
    assert_eq!(pids(&project)["a[0]"], first["a[0]"]);
    let described = project.svc(&["describe", "a", "--json"]);
    let described: Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(described["scaled_to"], 4);

    let out = project.svc(&["scale", "a", "1"]);
    assert_ok(&out, "svc scale a 1");
    let drained: Vec<i32> = scaled.iter().skip(1).map(pid_of).collect();
    assert_eq!(project.status().len(), 1);
    assert!(
        drained.iter().all(|p| !alive(*p)),
        "drained instances still run"
    );

    let out = project.svc(&["reload"]);
    assert_ok(&out, "svc reload");
    assert!(
        stdout(&out).contains("~ a: instances 1→2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(project.status().len(), 2);
    assert_eq!(pids(&project)["a[0]"], first["a[0]"]);

    let out = project.svc(&["scale", "nope", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown program nope"),
        "{}",
        stderr(&out)
    );
}

/// A program that writes its start and stop times (nanoseconds) into `NAME.started` and
/// `NAME.stopped`.
fn timed(name: &str, extra: &str) -> String {
    program(
        name,
        &format!(
            "trap 'date +%s%N > {name}.stopped; exit 0' TERM; date +%s%N > {name}.started; while :; do sleep 0.05; done"
        ),
        extra,
    )
}

fn stamp(project: &Project, file: &str) -> u128 {
    std::fs::read_to_string(project.path(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn depends_on_starts_dependencies_first_and_stops_in_reverse() {
    let project = Project::new(&format!(
        "{}{}{}",
        timed(
            "app",
            "depends_on = [\"db\", \"cache\"]\nready = { uptime = \"300ms\" }"
        ),
        timed(
            "cache",
            "depends_on = { db = \"started\" }\nready = { uptime = \"300ms\" }"
        ),
        timed("db", "ready = { uptime = \"1500ms\" }"),
    ));
    project.start();
    let (db, cache, app) = (
        stamp(&project, "db.started"),
        stamp(&project, "cache.started"),
        stamp(&project, "app.started"),
    );
    // A start time is written by the child after its fork, so only gaps far wider than that
    // lag are asserted: `ready` waits out the dependency's readiness, `started` does not.
    const MS: u128 = 1_000_000;
    assert!(
        cache < db + 1000 * MS,
        "cache (db = \"started\") waited {} ms for db to be ready",
        cache.saturating_sub(db) / MS
    );
    assert!(app >= db + 1400 * MS, "app started before db was ready");
    assert!(
        app >= cache + 250 * MS,
        "app started before cache was ready"
    );

    let out = project.svc(&["stop", "db", "cache", "app"]);
    assert_ok(&out, "svc stop");
    let (db, cache, app) = (
        stamp(&project, "db.stopped"),
        stamp(&project, "cache.stopped"),
        stamp(&project, "app.stopped"),
    );
    assert!(
        app <= cache && cache <= db,
        "stop order app {app}, cache {cache}, db {db}"
    );

    // Starting one program starts what it depends on first.
    for file in ["db.started", "cache.started", "app.started"] {
        std::fs::remove_file(project.path(file)).unwrap();
    }
    let out = project.svc(&["start", "app"]);
    assert_ok(&out, "svc start app");
    assert!(project.status().iter().all(|i| i["state"] == "online"));
    assert!(stamp(&project, "app.started") > stamp(&project, "db.started"));
}

#[test]
fn a_dependency_cycle_is_refused_with_file_and_line() {
    let project = Project::new(&format!(
        "{}{}",
        program("a", "exec sleep 300", "depends_on = [\"b\"]"),
        program("b", "exec sleep 300", "depends_on = [\"a\"]"),
    ));
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("svc.toml:3:"), "{message}");
    assert!(message.contains("a → b → a"), "{message}");
    assert!(
        project.daemon_pid().is_none(),
        "a daemon started on a cyclic config"
    );
}

#[test]
fn describe_shows_the_masked_config_instances_and_every_restart_with_its_reason() {
    let metrics = free_port();
    let project = Project::new(&format!(
        "[daemon]\nmetrics = \"127.0.0.1:{metrics}\"\n{}",
        program(
            "a",
            "exec sleep 300",
            &format!(
                "env = {{ API_TOKEN = \"hunter2\", MODE = \"plain\" }}\n{QUICK}\nrestart_delay = \"100ms\""
            )
        )
    ));
    project.start();
    let out = project.svc(&["restart", "a"]);
    assert_ok(&out, "svc restart a");
    kill(pid_of(&project.instance("a", 0)), "KILL");
    project.wait_instance("a", 0, "restarted after the crash", |i| {
        i["restarts"] == 1 && i["state"] == "online"
    });

    let out = project.svc(&["describe", "a"]);
    assert_ok(&out, "svc describe a");
    let text = stdout(&out);
    assert!(!text.contains("hunter2"), "a secret was shown:\n{text}");
    assert!(text.contains("***") && text.contains("plain"), "{text}");
    assert!(text.contains("manual") && text.contains("crash"), "{text}");
    assert!(text.contains("app.log"), "{text}");

    let out = project.svc(&["describe", "a", "--json"]);
    assert_ok(&out, "svc describe a --json");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<&str> = json["instances"][0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["manual", "crash"]);
    assert_eq!(json["config"]["env"]["API_TOKEN"], "***");
    assert_eq!(
        json["instances"][0]["status"]["pid"],
        project.instance("a", 0)["pid"]
    );
    assert_eq!(project.instance("a", 0)["last_restart_reason"], "crash");

    let (_, body) = http(metrics, "GET", "/metrics", &[], "").unwrap();
    for reason in ["manual", "crash"] {
        let series =
            format!("svc_restarts_total{{program=\"a\",instance=\"0\",reason=\"{reason}\"}} 1");
        assert!(body.contains(&series), "{series} missing:\n{body}");
    }
    assert!(
        body.contains("svc_restarts_total{program=\"a\",instance=\"0\",reason=\"memory\"} 0"),
        "{body}"
    );

    let out = project.svc(&["describe", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

/// The numbered files of a log (`app.log.000001`, ... compressed or not) in `dir`.
fn log_files(dir: &std::path::Path, base: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(&format!("{base}.")) && !name.ends_with(".tmp")
            })
            .count()
    })
}

#[test]
fn a_logs_change_is_taken_at_the_next_rotation_without_a_restart() {
    let chatty = "while :; do echo 0123456789012345678901234567890123456789; sleep 0.01; done";
    let before = format!(
        "[logs]\nmax_size = \"10MiB\"\ncompress = false\n{}",
        program("a", chatty, QUICK)
    );
    let project = Project::new(&before);
    project.start();
    let pid = pid_of(&project.instance("a", 0));
    assert_eq!(log_files(&project.path("logs"), "app.log"), 1);

    let after = format!(
        "[logs]\nmax_size = \"2KiB\"\ncompress = false\n{}",
        program(
            "a",
            chatty,
            &format!("{QUICK}\nlogs = {{ max_size = \"1KiB\" }}")
        )
    );
    std::fs::write(project.config(), after).unwrap();
    let out = project.svc(&["reload"]);
    assert_ok(&out, "svc reload");
    let printed = stdout(&out);
    assert!(
        printed.contains("~ [logs]: max_size (from the next rotation)"),
        "{printed}"
    );
    assert!(printed.contains("~ a: logs.max_size"), "{printed}");
    wait_until("app.log rotated at 2 KiB", || {
        log_files(&project.path("logs"), "app.log") >= 3
    });
    wait_until("a's own log, rotated at 1 KiB", || {
        log_files(&project.path("logs/programs"), "a.log") >= 2
    });
    assert_eq!(pid_of(&project.instance("a", 0)), pid, "a was restarted");
}
