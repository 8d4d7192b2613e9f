//! What the records look like: wrapped text, children's JSON kept and normalised, over-long lines
//! split, stderr, a child that dies mid-line, the daemon's lifecycle events, and a program with
//! its own log policy.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{PATIENCE, holds_within, wait_until};

use harness::Project;
use logs::{has_event, numbered_files, records};
use serde_json::Value;

/// Waits for the file `go`, writes one line of each kind, and exits with code 3 in mid-line.
const MIXED: &str = r#"
[programs.mixed]
command = ["python3", "-c", """
import os, time
while not os.path.exists('go'):
    time.sleep(0.01)
out = lambda s: os.write(1, s.encode())
out('plain text line\\n')
out('{"level":"WARN","message":"json here","timestamp":"2026-01-01T00:30:00.250+01:00","requestId":"r-9","custom":{"a":1}}\\n')
out('{"level":50,"time":1764412927123,"msg":"pino error","pid":1,"hostname":"h","program":"not me"}\\n')
out(('abc\u00e9' * 50000) + '\\n')
os.write(2, b'to stderr\\n')
time.sleep(0.2)
out('no newline at the end')
os._exit(3)
"""]
restart = "never"
"#;

fn wait_for_event(project: &Project, program: &str, text: &str) -> Vec<Value> {
    let logs = project.path("logs");
    let mut all = Vec::new();
    let found = holds_within(PATIENCE, || {
        all = records(&logs, "app.log");
        has_event(&all, program, text)
    });
    assert!(
        found,
        "no `{text}` event for {program} in app.log: {all:#?}"
    );
    all
}

fn find<'a>(records: &'a [Value], msg: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["msg"] == msg)
        .unwrap_or_else(|| panic!("no record with msg {msg:?}"))
}

#[test]
fn every_kind_of_output_becomes_a_json_record() {
    let project = Project::new(MIXED);
    project.start();
    let pid = project.instance("mixed", 0)["pid"]
        .as_u64()
        .expect("running");
    std::fs::write(project.path("go"), "").unwrap();
    let all = wait_for_event(&project, "mixed", "exited with code 3");

    let plain = find(&all, "plain text line");
    assert_eq!(plain["level"], "info");
    assert_eq!(plain["program"], "mixed");
    assert_eq!(plain["instance"], 0);
    assert_eq!(plain["pid"], pid);
    let keys: Vec<&str> = plain
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["time", "level", "msg", "program", "instance", "pid"] {
        assert!(keys.contains(&key), "{key} missing from {plain}");
    }

    let json = find(&all, "json here");
    assert_eq!(json["level"], "warn");
    assert_eq!(json["time"], "2025-12-31T23:30:00.250Z");
    assert_eq!(json["requestId"], "r-9");
    assert_eq!(json["custom"]["a"], 1);
    assert!(json.get("message").is_none() && json.get("timestamp").is_none());

    let pino = find(&all, "pino error");
    assert_eq!(pino["level"], "error");
    assert_eq!(pino["time"], "2025-11-29T10:42:07.123Z");
    assert_eq!(pino["hostname"], "h");
    assert_eq!(
        pino["pid"], pid,
        "the daemon's pid replaces the child's claim"
    );
    assert_eq!(pino["program"], "mixed");

    let long = "abc\u{e9}".repeat(50_000);
    let pieces: Vec<&Value> = all.iter().filter(|r| r.get("part").is_some()).collect();
    assert!(
        pieces.len() >= 4,
        "a 250 kB line must come in pieces: {}",
        pieces.len()
    );
    let parts: Vec<u64> = pieces.iter().map(|r| r["part"].as_u64().unwrap()).collect();
    assert_eq!(parts, (1..=pieces.len() as u64).collect::<Vec<_>>());
    for piece in &pieces {
        assert!(piece["msg"].as_str().unwrap().len() <= 64 * 1024);
    }
    let joined: String = pieces.iter().map(|r| r["msg"].as_str().unwrap()).collect();
    assert_eq!(
        joined, long,
        "the pieces join back into the line, no byte lost"
    );

    let stderr = find(&all, "to stderr");
    assert_eq!(stderr["level"], "error");
    assert_eq!(stderr["stream"], "stderr");

    let last = all
        .iter()
        .position(|r| r["msg"] == "no newline at the end")
        .expect("the unfinished last line is written");
    let exited = all
        .iter()
        .position(|r| {
            r["source"] == "svc"
                && r["msg"]
                    .as_str()
                    .unwrap_or("")
                    .contains("exited with code 3")
        })
        .unwrap();
    assert!(last < exited, "the last words come before the exit record");

    let errors = records(&project.path("logs"), "error.log");
    let error_msgs: Vec<&str> = errors.iter().filter_map(|r| r["msg"].as_str()).collect();
    for want in ["pino error", "to stderr", "exited with code 3"] {
        assert!(
            error_msgs.contains(&want),
            "error.log lacks {want:?}: {error_msgs:?}"
        );
    }
    for unwanted in ["plain text line", "json here"] {
        assert!(
            !error_msgs.contains(&unwanted),
            "error.log has {unwanted:?}"
        );
    }
}

#[test]
fn the_daemon_logs_starts_exits_restarts_give_ups_and_stops() {
    let project = Project::new(
        r#"
[programs.crasher]
command = ["sh", "-c", "echo crashing; exit 1"]
restart_delay = "10ms"
min_uptime = "5s"
max_restarts = 2

[programs.sleeper]
command = ["sleep", "600"]
"#,
    );
    let _ = project.svc(&["start"]); // fails: crasher never comes up
    let logs = project.path("logs");
    let count = |all: &[Value]| {
        let crashing = all.iter().filter(|r| r["msg"] == "crashing").count();
        let runs = all
            .iter()
            .filter(|r| r["source"] == "svc" && r["program"] == "crasher")
            .filter(|r| {
                r["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("started (pid"))
            })
            .count();
        (crashing, runs)
    };
    let mut all = Vec::new();
    let settled = holds_within(PATIENCE, || {
        all = records(&logs, "app.log");
        let (crashing, runs) = count(&all);
        has_event(&all, "crasher", "gave up") && crashing == runs
    });
    let trace: Vec<String> = all
        .iter()
        .map(|r| format!("{} {} {}", r["time"], r["pid"], r["msg"]))
        .collect();
    assert!(
        settled,
        "expected one `crashing` line per run and a give-up: {:?}\n{trace:#?}",
        count(&all)
    );
    assert!(count(&all).1 >= 3, "two restarts before giving up");
    for text in [
        "started (pid",
        "exited with code 1; restarting in 10 ms",
        "restarting in 20 ms",
    ] {
        assert!(has_event(&all, "crasher", text), "no `{text}` event");
    }
    let event = all
        .iter()
        .find(|r| r["source"] == "svc" && r["msg"].as_str().is_some_and(|m| m.contains("gave up")))
        .unwrap();
    assert_eq!(event["level"], "error");
    assert_eq!(event["program"], "crasher");

    let out = project.svc(&["stop", "sleeper"]);
    harness::assert_ok(&out, "svc stop sleeper");
    wait_for_event(&project, "sleeper", "stopped");
}

#[test]
fn a_program_with_its_own_policy_gets_its_own_rotated_log() {
    let project = Project::new(
        r#"
[logs]
max_size = "1MiB"

[programs.chatty]
command = ["python3", "-c", "import os, time\nfor i in range(3000):\n    os.write(1, ('line %d\\n' % i).encode())\ntime.sleep(600)"]
logs = { max_size = "16KiB", keep = 2, compress = false }
"#,
    );
    project.start();
    let own = project.path("logs/programs");
    wait_until("the lines to reach app.log", || {
        let lines = records(&project.path("logs"), "app.log");
        lines.iter().any(|r| r["msg"] == "line 2999")
    });
    let files = numbered_files(&own, "chatty.log");
    assert!(
        files.len() <= 3 && files.len() >= 2,
        "keep = 2 plus the current: {files:?}"
    );
    for (_, path) in &files {
        assert!(
            path.extension().is_none_or(|e| e != "gz"),
            "compress = false"
        );
        assert!(std::fs::metadata(path).unwrap().len() <= 16 * 1024);
    }
    let mine: Vec<Value> = records(&own, "chatty.log")
        .into_iter()
        .filter(|r| r.get("source").is_none())
        .collect();
    assert_eq!(mine.last().unwrap()["msg"], "line 2999");
    assert!(
        mine.len() < 3000,
        "retention dropped the oldest of its own files"
    );
    // `svc logs chatty` reads the program's own log.
    let out = project.svc(&["logs", "chatty", "--json", "-n", "5"]);
    harness::assert_ok(&out, "svc logs chatty");
    let shown: Vec<Value> = harness::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown.len(), 5);
    assert!(shown.iter().any(|r| r["msg"] == "line 2999"), "{shown:?}");
}
