//! `svc logs` as a user runs it: `--request-id` through compressed history, the filters, the
//! human and JSON output, `--rotate`, and its errors.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{LONG_PATIENCE, PATIENCE, holds_within, wait_until, wait_until_within};

use harness::{Project, assert_ok, stderr, stdout};
use logs::numbered_files;
use serde_json::Value;

/// `api` handles 100,000 requests (one JSON line each); request `target-7` appears at lines 10,
/// 50,000 and 99,990 and `target-70` (a near miss) at line 20. `worker` then logs a line of
/// request `target-7` too, and an error. Both stay up.
const REQUESTS: &str = r#"
[logs]
max_size = "256KiB"
keep = 100
compress = true

[programs.api]
command = ["python3", "-c", """
import os, time
for i in range(1, 100001):
    rid = {10: 'target-7', 50000: 'target-7', 99990: 'target-7', 20: 'target-70'}.get(i, 'req-%d' % i)
    os.write(1, ('{"level":"info","msg":"handled %d","requestId":"%s"}\\n' % (i, rid)).encode())
open('api-done', 'w').close()
time.sleep(600)
"""]

[programs.worker]
command = ["python3", "-c", """
import os, time
while not os.path.exists('api-done'):
    time.sleep(0.01)
os.write(1, b'{"level":"info","msg":"sent the welcome email","requestId":"target-7","jobId":"j1"}\\n')
os.write(1, b'{"level":"error","msg":"smtp refused","jobId":"j2"}\\n')
time.sleep(600)
"""]
"#;

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn msgs(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Starts the request project and waits until the last lines of both programs are in (their
/// pipes are read apart, so the worker's may come first) and every rotated file is compressed.
fn requests_project() -> Project {
    let project = Project::new(REQUESTS);
    project.start();
    let logs = project.path("logs");
    for (program, last) in [("worker", "smtp refused"), ("api", "handled 100000")] {
        wait_until_within("the last lines in svc logs", LONG_PATIENCE, || {
            let out = project.svc(&["logs", program, "--json", "-n", "10"]);
            msgs(&json_lines(&out)).contains(&last.to_owned())
        });
    }
    let compressed = holds_within(PATIENCE, || {
        let files = numbered_files(&logs, "app.log");
        files.len() > 10
            && files[..files.len() - 1]
                .iter()
                .all(|(_, p)| p.extension().is_some_and(|e| e == "gz"))
    });
    assert!(compressed, "the rotated files were not compressed");
    project
}

#[test]
fn request_id_finds_one_request_in_current_and_compressed_files_and_filters_combine() {
    let project = requests_project();

    let out = project.svc(&["logs", "--request-id", "target-7", "--json"]);
    assert_ok(&out, "svc logs --request-id");
    let found = json_lines(&out);
    // In order per program (two programs' pipes are not ordered against each other).
    let of = |program: &str| -> Vec<String> {
        let records: Vec<Value> = found
            .iter()
            .filter(|r| r["program"] == program)
            .cloned()
            .collect();
        msgs(&records)
    };
    assert_eq!(
        of("api"),
        vec!["handled 10", "handled 50000", "handled 99990"]
    );
    assert_eq!(of("worker"), vec!["sent the welcome email"]);
    assert_eq!(found.len(), 4, "exactly the request's lines: {found:#?}");
    assert!(found.iter().all(|r| r["requestId"] == "target-7"));
    // The first ones were in compressed files, the last in the current one.
    let first_file = &numbered_files(&project.path("logs"), "app.log")[0].1;
    assert!(first_file.extension().is_some_and(|e| e == "gz"));

    // The same, human-readable.
    let out = project.svc(&["logs", "--request-id", "target-7", "api"]);
    assert_ok(&out, "svc logs api --request-id");
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines()
            .all(|l| l.contains(" api[0] INFO  handled ") && l.contains("requestId=target-7"))
    );
    assert!(
        !text.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );

    // -n reads back across files; --level and a program name narrow it.
    let out = project.svc(&["logs", "api", "-n", "60000", "--json"]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 60000);
    let own: Vec<&Value> = lines.iter().filter(|r| r.get("source").is_none()).collect();
    assert_eq!(own.last().unwrap()["msg"], "handled 100000");
    let first: u64 = own[0]["msg"].as_str().unwrap()[8..].parse().unwrap();
    assert!(
        first > 40_000 && first < 40_010,
        "the 60,000 reach back to line {first}"
    );
    let out = project.svc(&["logs", "--level", "error", "--json"]);
    assert_eq!(msgs(&json_lines(&out)), vec!["smtp refused"]);
    let out = project.svc(&["logs", "--level", "warn", "--color", "always"]);
    let text = stdout(&out);
    assert!(
        text.contains("smtp refused") && text.contains("\x1b["),
        "{text}"
    );
    let out = project.svc(&["logs", "--since", "2099-01-01T00:00:00Z", "--json"]);
    assert_ok(&out, "svc logs --since (future)");
    assert!(stdout(&out).is_empty());
    let out = project.svc(&[
        "logs",
        "--since",
        "1h",
        "--request-id",
        "target-70",
        "--json",
    ]);
    assert_eq!(msgs(&json_lines(&out)), vec!["handled 20"]);
}

#[test]
fn rotate_starts_new_files_now() {
    let project = Project::new(
        r#"
[programs.quiet]
command = ["sh", "-c", "echo hello; exec sleep 600"]
"#,
    );
    project.start();
    let logs = project.path("logs");
    wait_until("the program's hello in svc logs", || {
        harness::stdout(&project.svc(&["logs", "--json"])).contains("hello")
    });
    let before = numbered_files(&logs, "app.log").last().unwrap().0;
    let out = project.svc(&["logs", "--rotate"]);
    assert_ok(&out, "svc logs --rotate");
    let files = numbered_files(&logs, "app.log");
    assert_eq!(files.last().unwrap().0, before + 1, "a new current file");
    let link = std::fs::read_link(logs.join("app.log")).unwrap();
    assert_eq!(link.to_str().unwrap(), format!("app.log.{:06}", before + 1));
    // The history still reads through the rotated file.
    let out = project.svc(&["logs", "--json"]);
    assert!(stdout(&out).contains("hello"));

    let out = project.svc(&["stop"]);
    assert_ok(&out, "svc stop");
    let out = project.svc(&["logs", "--rotate"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the daemon is not running: {}",
        stderr(&out)
    );
    // Reading needs no daemon.
    let out = project.svc(&["logs", "--json"]);
    assert_ok(&out, "svc logs without a daemon");
    assert!(stdout(&out).contains("hello"));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let project = Project::new(
        r#"
[programs.api]
command = ["sleep", "600"]
"#,
    );
    let out = project.svc(&["logs", "apx"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown program apx") && stderr(&out).contains("api"),
        "{}",
        stderr(&out)
    );
    let out = project.svc(&["logs", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
    let out = project.svc(&["logs", "--level", "loud"]);
    assert_eq!(out.status.code(), Some(2));
    let out = project.svc(&["logs", "--request-id", ""]);
    assert_eq!(out.status.code(), Some(2));
    let out = project.svc(&["logs", "--rotate", "--follow"]);
    assert_eq!(out.status.code(), Some(2));
    // Before any daemon ran: nothing to show, and it says so.
    let out = project.svc(&["logs"]);
    assert_ok(&out, "svc logs with no logs yet");
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("no logs yet"), "{}", stderr(&out));
}
