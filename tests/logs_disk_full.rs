//! A full disk: the daemon keeps supervising, counts the lines it cannot write (shown by
//! `svc status`), and writes again by itself once there is space.
//!
//! The full disk is real: the current log file is a symlink to `/dev/full`, where every write
//! fails with ENOSPC; removing the symlink is space coming back.

use crate::harness;
use crate::logs_support;

use std::time::Duration;

use harness::{Project, assert_ok, stdout, wait_for};
use logs_support::records;

#[test]
fn lines_that_cannot_be_written_are_counted_and_writing_resumes() {
    let project = Project::new(
        r#"
[programs.ticker]
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
"#,
    );
    let logs = project.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let current = logs.join("app.log.000001");
    std::os::unix::fs::symlink("/dev/full", &current).unwrap();
    project.start();

    let dropped = |project: &Project| {
        project.instance("ticker", 0)["log_lines_dropped"]
            .as_u64()
            .unwrap()
    };
    let counting = wait_for(Duration::from_secs(20), || dropped(&project) >= 10);
    assert!(counting, "svc status never counted lost lines");
    let status = project.instance("ticker", 0);
    assert_eq!(
        status["state"], "online",
        "the daemon keeps supervising: {status}"
    );
    let table = project.svc(&["status"]);
    assert_ok(&table, "svc status");
    assert!(
        stdout(&table).contains("log lines could not be written"),
        "{}",
        stdout(&table)
    );

    // Space comes back.
    std::fs::remove_file(&current).unwrap();
    let mut all = Vec::new();
    let resumed = wait_for(Duration::from_secs(20), || {
        all = records(&logs, "app.log");
        let recovered = all.iter().position(|r| {
            r["program"] == "svc"
                && r["msg"]
                    .as_str()
                    .is_some_and(|m| m.contains("could not be written"))
        });
        recovered.is_some_and(|at| {
            all[at..]
                .iter()
                .filter(|r| r["program"] == "ticker")
                .count()
                >= 5
        })
    });
    assert!(resumed, "writing never resumed: {all:#?}");
    let recovery = all.iter().find(|r| r["program"] == "svc").unwrap();
    assert_eq!(recovery["level"], "warn");
    assert!(
        recovery["msg"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{recovery}"
    );

    // No more losses once it writes again; the ticks after the gap are consecutive.
    let lost = dropped(&project);
    let later = wait_for(Duration::from_secs(20), || {
        records(&logs, "app.log")
            .iter()
            .filter(|r| r["program"] == "ticker")
            .count()
            >= 30
    });
    assert!(later);
    assert_eq!(
        dropped(&project),
        lost,
        "lines were lost after space came back"
    );
    let ticks: Vec<u64> = records(&logs, "app.log")
        .iter()
        .filter(|r| r["program"] == "ticker" && r.get("source").is_none())
        .map(|r| r["msg"].as_str().unwrap()[5..].parse().unwrap())
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap after recovery: {ticks:?}"
    );
    // Exactly the missing ticks were counted, plus the daemon's `started`/`online` records.
    let missing_ticks = ticks[0] - 1;
    assert!(
        lost.checked_sub(missing_ticks)
            .is_some_and(|events| (1..=2).contains(&events)),
        "{lost} counted, {missing_ticks} ticks missing"
    );
    let events = records(&logs, "app.log")
        .iter()
        .filter(|r| r["program"] == "ticker" && r["source"] == "svc")
        .count();
    assert!(events <= 1, "the lost events are not in the file either");
}
