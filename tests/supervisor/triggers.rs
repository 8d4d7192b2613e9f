//! Restarts a program asks for in svc.toml: `watch`, `max_memory`, `cron_restart`; the real
//! daemon, real files, real processes.

use crate::common::harness;

use std::time::Duration;

use harness::*;
use serde_json::Value;

fn program(name: &str, command: &str, extra: &str) -> String {
    format!(
        "[programs.{name}]\ncommand = [\"sh\", \"-c\", {command:?}]\nready = {{ uptime = \"100ms\" }}\n{extra}\n"
    )
}

/// Restarts of instance 0 of `name` for `reason` so far.
fn restarts(project: &Project, name: &str, reason: &str) -> u64 {
    project.instance(name, 0)["restarts_by_reason"][reason]
        .as_u64()
        .unwrap_or(0)
}

/// The pid of instance 0 of `a` and its restarts for `reason`, read together: a trigger that
/// fires on its own may already have restarted it once.
fn pid_and_restarts(project: &Project, reason: &str) -> (i32, u64) {
    let instance = project.instance("a", 0);
    let count = instance["restarts_by_reason"][reason].as_u64().unwrap_or(0);
    (pid_of(&instance), count)
}

fn wait_restarts(project: &Project, reason: &str, count: u64) -> Value {
    project.wait_instance("a", 0, &format!("{count} {reason} restart(s)"), |i| {
        i["restarts_by_reason"][reason].as_u64().unwrap_or(0) >= count && i["state"] == "online"
    })
}

/// Long enough for a change that would count to have restarted the program: three debounce
/// delays and the restart itself.
const QUIET: Duration = Duration::from_millis(900);

#[test]
fn watch_restarts_once_per_burst_and_ignores_what_it_should() {
    let project = Project::new(&program(
        "a",
        "exec sleep 300",
        "watch = [\"src\"]\nwatch_ignore = [\"*.tmp\"]\nwatch_delay = \"200ms\"",
    ));
    std::fs::create_dir_all(project.path("src/node_modules")).unwrap();
    std::fs::write(project.path("src/main.txt"), "v1").unwrap();
    project.start();
    let first = pid_of(&project.instance("a", 0));

    // A plain write.
    std::fs::write(project.path("src/main.txt"), "v2").unwrap();
    let after = wait_restarts(&project, "watch", 1);
    assert_ne!(pid_of(&after), first, "the process was not replaced");
    assert_eq!(after["last_restart_reason"], "watch");
    assert_eq!(
        after["restarts"], 0,
        "a watch restart is not a crash restart"
    );

    // An editor's save: a temp file renamed over the original.
    std::fs::write(project.path("src/main.txt.swp"), "v3").unwrap();
    std::fs::rename(
        project.path("src/main.txt.swp"),
        project.path("src/main.txt"),
    )
    .unwrap();
    wait_restarts(&project, "watch", 2);
    std::thread::sleep(QUIET);
    assert_eq!(restarts(&project, "a", "watch"), 2, "one save, one restart");

    // Ignored: a watch_ignore glob, node_modules, and reads.
    std::fs::write(project.path("src/scratch.tmp"), "x").unwrap();
    std::fs::write(project.path("src/node_modules/dep.js"), "x").unwrap();
    let _ = std::fs::read(project.path("src/main.txt")).unwrap();
    std::thread::sleep(QUIET);
    assert_eq!(
        restarts(&project, "a", "watch"),
        2,
        "an ignored path restarted it"
    );

    // A burst of 50 changes is one restart.
    for n in 0..50 {
        std::fs::write(project.path(&format!("src/gen{n}.txt")), "x").unwrap();
        // Pacing: the changes come as a burst, not all in one instant.
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_restarts(&project, "watch", 3);
    std::thread::sleep(QUIET);
    assert_eq!(
        restarts(&project, "a", "watch"),
        3,
        "a burst restarted it more than once"
    );

    let described = project.svc(&["describe", "a"]);
    assert!(
        stdout(&described).contains("main.txt changed"),
        "{}",
        stdout(&described)
    );
}

#[test]
fn a_watched_folder_replaced_whole_is_watched_again() {
    let project = Project::new(&program(
        "a",
        "exec sleep 300",
        "watch = [\"src\"]\nwatch_delay = \"100ms\"",
    ));
    std::fs::create_dir_all(project.path("src")).unwrap();
    std::fs::write(project.path("src/main.txt"), "v1").unwrap();
    project.start();

    // A checkout or a build that deletes the folder and makes it anew.
    std::fs::remove_dir_all(project.path("src")).unwrap();
    std::fs::create_dir(project.path("src")).unwrap();
    std::fs::write(project.path("src/main.txt"), "v2").unwrap();
    wait_restarts(&project, "watch", 1);
    std::thread::sleep(QUIET);
    let (_, before) = pid_and_restarts(&project, "watch");

    // An edit in the new folder counts like one in the old.
    std::fs::write(project.path("src/main.txt"), "v3").unwrap();
    wait_restarts(&project, "watch", before + 1);

    // So does a folder renamed into its place.
    std::fs::create_dir(project.path("next")).unwrap();
    std::fs::rename(project.path("src"), project.path("old")).unwrap();
    std::fs::rename(project.path("next"), project.path("src")).unwrap();
    wait_restarts(&project, "watch", before + 2);
    std::thread::sleep(QUIET);
    let (_, now) = pid_and_restarts(&project, "watch");
    std::fs::write(project.path("src/new.txt"), "x").unwrap();
    wait_restarts(&project, "watch", now + 1);
    // The other entries of the folder around it do not count.
    std::fs::write(project.path("notes.txt"), "x").unwrap();
    std::fs::create_dir(project.path("docs")).unwrap();
    std::fs::write(project.path("docs/guide.txt"), "x").unwrap();
    std::thread::sleep(QUIET);
    assert_eq!(restarts(&project, "a", "watch"), now + 1);
}

#[test]
fn an_instance_above_max_memory_is_restarted_with_the_reason() {
    // 48 MiB written (so resident), against a 24 MiB limit checked every 100 ms.
    let project = Project::new(&program(
        "a",
        "exec python3 -c 'import time; b = b\"x\" * (48 << 20); time.sleep(300)'",
        "max_memory = \"24MiB\"\nmemory_check = \"100ms\"",
    ));
    project.start();
    let (first, count) = pid_and_restarts(&project, "memory");
    let after = wait_restarts(&project, "memory", count + 1);
    assert_ne!(pid_of(&after), first);
    assert_eq!(after["restarts"], 0);
    let out = project.svc(&["describe", "a", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let detail = json["instances"][0]["history"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("above max_memory 24 MiB"), "{detail}");
}

#[test]
fn an_instance_under_max_memory_is_left_alone() {
    let project = Project::new(&program(
        "a",
        "exec sleep 300",
        "max_memory = \"64MiB\"\nmemory_check = \"100ms\"",
    ));
    project.start();
    let first = pid_of(&project.instance("a", 0));
    // The test: under its limit, the program is left alone for a while.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(pid_of(&project.instance("a", 0)), first);
    assert_eq!(restarts(&project, "a", "memory"), 0);
}

#[test]
fn cron_restart_restarts_on_schedule_and_describe_shows_the_next_run() {
    let project = Project::new(&program(
        "a",
        "exec sleep 300",
        "cron_restart = \"*/2 * * * * *\"",
    ));
    project.start();
    let out = project.svc(&["describe", "a", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let next = json["next_cron_restart"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(next.len() >= 19 && next.contains('T'), "next run {next:?}");
    let (first, count) = pid_and_restarts(&project, "cron");
    let after = wait_restarts(&project, "cron", count + 1);
    assert_ne!(pid_of(&after), first);
    assert_eq!(after["last_restart_reason"], "cron");
}
