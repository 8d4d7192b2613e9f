//! Children writing as fast as they can, one `write` per line, through the real daemon, with
//! rotation at 1 MiB keeping 50 files: every line lands exactly once, in order, never split.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{LONG_PATIENCE, PATIENCE, holds_within, wait_until};

use harness::Project;
use logs::{
    assert_same_lines, has_event, messages_of, numbered, numbered_files, read_file, records,
};

/// A program writing `lines` numbered lines (`<instance>-<n>`), one `os.write` each, then `done`
/// on stderr; then it stays up (a one-shot program would race `svc start`'s own start request).
fn writer_program(name: &str, instances: u32, lines: usize) -> String {
    format!(
        r#"
[programs.{name}]
command = ["python3", "-c", "import os, time\nprefix = os.environ['SVC_INSTANCE'] + '-'\nfor i in range(1, {lines} + 1):\n    os.write(1, ('%s%d\\n' % (prefix, i)).encode())\nos.write(2, b'done\\n')\ntime.sleep(600)"]
instances = {instances}
"#
    )
}

const LOGS: &str = r#"
[logs]
max_size = "1MiB"
keep = 50
compress = true
"#;

/// Waits until every instance of `name` said `done` (on stderr, so error.log, a small file, is
/// the one polled) and its last numbered line reached app.log, then reads all of app.log.
fn wait_done(
    project: &Project,
    name: &str,
    instances: usize,
    lines: usize,
) -> Vec<serde_json::Value> {
    let logs = project.path("logs");
    let finished = holds_within(LONG_PATIENCE, || {
        let errors = records(&logs, "error.log");
        errors
            .iter()
            .filter(|r| r["program"] == name && r["msg"] == "done")
            .count()
            == instances
    });
    assert!(finished, "the writers of {name} did not all finish");
    // stdout and stderr are separate pipes: the last stdout lines may still be on their way.
    let lasts: Vec<String> = (0..instances)
        .map(|i| format!("\"msg\":\"{i}-{lines}\""))
        .collect();
    wait_until(&format!("the last lines of {name} in app.log"), || {
        let text: Vec<u8> = numbered_files(&logs, "app.log")
            .iter()
            .flat_map(|(_, path)| read_file(path))
            .collect();
        let text = String::from_utf8_lossy(&text);
        lasts.iter().all(|last| text.contains(last.as_str()))
    });
    records(&logs, "app.log")
}

/// Every rotated file stays within the size limit and the log is a numbered, gzipped series.
fn assert_rotated_within(project: &Project, limit: u64) {
    let logs = project.path("logs");
    let files = numbered_files(&logs, "app.log");
    assert!(
        files.len() >= 15,
        "expected many rotations, got {} files",
        files.len()
    );
    assert!(
        files.len() <= 51,
        "keep = 50 plus the current file, got {}",
        files.len()
    );
    for (_, path) in &files {
        let len = std::fs::metadata(path).unwrap().len();
        assert!(len <= limit, "{} has {len} bytes", path.display());
    }
    // The rotated files get compressed (in the background, so wait for it).
    let (last, _) = files[files.len() - 1];
    let compressed = holds_within(PATIENCE, || {
        numbered_files(&logs, "app.log")
            .iter()
            .filter(|(seq, _)| *seq != last)
            .all(|(_, path)| path.extension().is_some_and(|e| e == "gz"))
    });
    assert!(compressed, "rotated files were not all compressed");
    let link = std::fs::read_link(logs.join("app.log")).unwrap();
    assert_eq!(link.to_str().unwrap(), format!("app.log.{last:06}"));
}

#[test]
fn two_hundred_thousand_lines_from_one_child_arrive_once_in_order_across_rotations() {
    let project = Project::new(&format!("{LOGS}{}", writer_program("writer", 1, 200_000)));
    project.start();
    let all = wait_done(&project, "writer", 1, 200_000);
    assert_same_lines(
        &messages_of(&all, "writer", 0),
        &numbered("0-", 200_000),
        "writer[0]",
    );
    assert!(has_event(&all, "writer", "started (pid"));
    assert!(
        all.iter().all(|r| r["time"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z'))),
        "every record has an RFC 3339 UTC millisecond time"
    );
    assert_rotated_within(&project, 1 << 20);
    let status = project.instance("writer", 0);
    assert_eq!(status["log_lines_dropped"], 0);
}

#[test]
fn four_children_writing_at_once_each_keep_their_lines_in_order() {
    let project = Project::new(&format!("{LOGS}{}", writer_program("writer", 4, 50_000)));
    project.start();
    let all = wait_done(&project, "writer", 4, 50_000);
    for index in 0..4u64 {
        assert_same_lines(
            &messages_of(&all, "writer", index),
            &numbered(&format!("{index}-"), 50_000),
            &format!("writer[{index}]"),
        );
    }
    // They really ran at once: their lines interleave in app.log.
    let owners: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| r["program"] == "writer" && r.get("source").is_none())
        .map(|r| &r["instance"])
        .collect();
    let switches = owners.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 4,
        "the four writers' lines never interleaved ({switches} switches)"
    );
    assert_rotated_within(&project, 1 << 20);
}

#[test]
fn the_daemons_own_log_is_rotated_at_start_once_over_the_size_limit() {
    let project = Project::new(
        "[logs]\nmax_size = \"1KiB\"\n\n[programs.idle]\ncommand = [\"sleep\", \"300\"]\n",
    );
    std::fs::create_dir_all(project.path("logs")).unwrap();
    let old = "an old daemon line\n".repeat(200);
    std::fs::write(project.path("logs/svc.log"), &old).unwrap();
    project.start();
    let out = project.svc(&["stop"]);
    harness::assert_ok(&out, "svc stop");
    let text = |rel: &str| String::from_utf8(read_file(&project.path(rel))).unwrap();
    assert_eq!(text("logs/svc.log.1"), old);
    let current = text("logs/svc.log");
    assert!(
        current.contains("daemon started") && !current.contains("an old daemon line"),
        "{current}"
    );
}
