//! A full disk: the daemon keeps supervising, counts the lines it cannot write (shown by
//! `svc status`), and writes again by itself once there is space.
//!
//! The full disk is real: the log folder is a small tmpfs filled to the last byte, where every
//! write fails with ENOSPC; deleting the file that fills it is space coming back. (A symlink to
//! `/dev/full` would be refused as a planted link, see `private_files.rs`.) Mounting needs root,
//! which the tests have in CI.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{PATIENCE, holds_within};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Project, assert_ok, stdout};
use logs::records;

/// A tmpfs mounted on a folder, unmounted (lazily: the daemon may still hold files) on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0750"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (the test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk {
            dir: dir.to_path_buf(),
        }
    }

    /// Fills the disk with one file; deleting it is space coming back.
    fn fill(&self) -> PathBuf {
        let filler = self.dir.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn lines_that_cannot_be_written_are_counted_and_writing_resumes() {
    let project = Project::new(
        r#"
[programs.ticker]
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
"#,
    );
    let logs = project.path("logs");
    let disk = SmallDisk::mount(&logs, "256k");
    let filler = disk.fill();
    project.start();

    let dropped = |project: &Project| {
        project.instance("ticker", 0)["log_lines_dropped"]
            .as_u64()
            .unwrap()
    };
    let counting = holds_within(PATIENCE, || dropped(&project) >= 10);
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
    std::fs::remove_file(&filler).unwrap();
    let mut all = Vec::new();
    let resumed = holds_within(PATIENCE, || {
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
    let later = holds_within(PATIENCE, || {
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
