//! `svc logs --follow` across rotations: every line once, in order, no gap, no repeat.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{LONG_PATIENCE, PATIENCE, wait_until};

use std::time::Duration;

use harness::Project;
use logs::{Follow, assert_same_lines, numbered, numbered_files};
use serde_json::Value;

/// Writes `ready`, waits for the file `go`, then `bursts` bursts of `per_burst` numbered lines
/// (padded, so files fill fast) with a pause between bursts, then `end`.
const PROGRAM: &str = r#"
[logs]
max_size = "32KiB"
keep = 50
compress = true

[programs.ticker]
command = ["python3", "-c", "import os, time\nos.write(1, b'ready\\n')\nwhile not os.path.exists('go'):\n    time.sleep(0.01)\nn = 0\nfor burst in range(12):\n    for i in range(250):\n        n += 1\n        os.write(1, ('%d %s\\n' % (n, 'x' * 60)).encode())\n    time.sleep(0.15)\nos.write(1, b'end\\n')\ntime.sleep(600)"]
"#;

fn msg(line: &str) -> String {
    let record: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("--json printed a line that is not JSON ({e}): {line}"));
    record["msg"].as_str().unwrap_or_default().to_owned()
}

fn newest_file(project: &Project) -> u64 {
    numbered_files(&project.path("logs"), "app.log")
        .last()
        .map_or(0, |(seq, _)| *seq)
}

#[test]
fn follow_prints_every_line_once_across_rotations() {
    let project = Project::new(PROGRAM);
    project.start();
    let follow = Follow::start(
        &project.config(),
        &["ticker", "--follow", "--json", "-n", "1000"],
    );
    let before = follow.collect_until(PATIENCE, |got| got.iter().any(|l| msg(l) == "ready"));
    assert!(
        before.iter().any(|l| msg(l) == "ready"),
        "the history part never showed `ready`: {before:?}"
    );
    let first_file = newest_file(&project);
    std::fs::write(project.path("go"), "").unwrap();

    let after = follow.collect_until(LONG_PATIENCE, |got| {
        got.last().is_some_and(|l| msg(l) == "end")
    });
    let rotations = newest_file(&project) - first_file;
    assert!(
        rotations >= 3,
        "only {rotations} rotations happened while following"
    );

    let printed: Vec<String> = before
        .iter()
        .chain(&after)
        .map(|l| msg(l))
        .filter(|m| m.ends_with(&"x".repeat(60)))
        .map(|m| m.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_same_lines(&printed, &numbered("", 3000), "followed lines");
    assert_eq!(after.last().map(|l| msg(l)).as_deref(), Some("end"));
    // Nothing more trickles in afterwards (a repeat would).
    let extra: Vec<String> = follow
        .drain(Duration::from_millis(500))
        .iter()
        .map(|l| msg(l))
        .filter(|m| m.ends_with('x'))
        .collect();
    assert!(extra.is_empty(), "lines repeated after the end: {extra:?}");
}

#[test]
fn follow_with_no_history_starts_at_the_end_and_reads_on_from_there() {
    let project = Project::new(PROGRAM);
    project.start();
    // `ready` is written before the follow starts; with -n 0 it must not be shown.
    wait_until("the ticker's ready line", || {
        let out = project.svc(&["logs", "--json", "-n", "5", "ticker"]);
        harness::stdout(&out).lines().any(|l| msg(l) == "ready")
    });
    let follow = Follow::start(&project.config(), &["--follow", "--json", "-n", "0"]);
    // Its history part is done once it watches the folder (an inotify descriptor).
    assert!(
        follow.wait_watching(PATIENCE),
        "svc logs --follow never started watching"
    );
    std::fs::write(project.path("go"), "").unwrap();
    let got = follow.collect_until(LONG_PATIENCE, |got| {
        got.last().is_some_and(|l| msg(l) == "end")
    });
    let messages: Vec<String> = got.iter().map(|l| msg(l)).collect();
    assert!(
        !messages.iter().any(|m| m == "ready"),
        "-n 0 printed history"
    );
    let numbers: Vec<String> = messages
        .iter()
        .filter(|m| m.ends_with('x'))
        .map(|m| m.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_same_lines(&numbers, &numbered("", 3000), "followed lines");
}
