//! Private by default, with real files and processes: a link planted in the log folder is never
//! written through, an unsafe log folder is refused, and everything `svc start` makes under
//! `data/`, `logs/` and `run/` is closed to other users (older, looser folders are tightened).
//! Some checks need root (a file of another user, a group), which the tests have in CI.

use crate::common::harness;
use crate::common::wait::{PATIENCE, holds_within, wait_until};

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Project, SVC, assert_ok, free_port, http, is_root, run, stderr, stdout};

const TICKER: &str = r#"
[programs.ticker]
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
"#;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A root-only file outside the project, and what it holds.
fn secret(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let text = format!("{name}: root only\nits last line has no newline");
    std::fs::write(&path, &text).unwrap();
    chmod(&path, 0o600);
    (path, text)
}

#[test]
fn a_link_planted_in_the_log_folder_is_refused_reported_and_never_written_through() {
    let project = Project::new(&format!("[logs]\nmax_size = \"4KiB\"\n{TICKER}"));
    let outside = tempfile::tempdir().unwrap();
    let (finished_target, finished_text) = secret(outside.path(), "finished");
    let (current_target, current_text) = secret(outside.path(), "current");
    let logs = project.path("logs");
    std::fs::create_dir(&logs).unwrap();
    chmod(&logs, 0o750);
    // A finished rotated file (which the daemon would compress) and the newest one (which it
    // would continue: cut to its last whole line, then append to).
    let planted_finished = logs.join("app.log.000001");
    let planted_current = logs.join("app.log.000002");
    std::os::unix::fs::symlink(&finished_target, &planted_finished).unwrap();
    std::os::unix::fs::symlink(&current_target, &planted_current).unwrap();
    project.start();

    // Writing goes on past the planted files, and rotates (4 KiB files) past them too.
    wait_until("the ticker's lines to reach the next files", || {
        std::fs::read_to_string(logs.join("app.log.000004")).is_ok_and(|t| t.contains("tick"))
    });
    let out = project.svc(&["logs", "--rotate"]);
    assert_ok(&out, "svc logs --rotate");

    let table = project.svc(&["status"]);
    assert_ok(&table, "svc status");
    let table = stdout(&table);
    for planted in [&planted_finished, &planted_current] {
        let line = format!("log file refused: {} is a symlink", planted.display());
        assert!(
            table.contains(&line),
            "svc status does not say {line:?}:\n{table}"
        );
    }
    let daemon_log = std::fs::read_to_string(logs.join("svc.log")).unwrap();
    for planted in [&planted_finished, &planted_current] {
        assert!(
            daemon_log
                .lines()
                .any(|l| l.contains("refusing a log file")
                    && l.contains(&planted.display().to_string())),
            "svc.log does not report {}:\n{daemon_log}",
            planted.display()
        );
    }
    assert_eq!(
        project.instance("ticker", 0)["log_lines_dropped"],
        0,
        "no line was lost: they went to the next file"
    );

    for (target, text) in [
        (&finished_target, &finished_text),
        (&current_target, &current_text),
    ] {
        assert_eq!(&std::fs::read_to_string(target).unwrap(), text);
        assert_eq!(mode(target), 0o600);
    }
    for planted in [&planted_finished, &planted_current] {
        assert!(
            std::fs::symlink_metadata(planted)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the planted link is left alone"
        );
    }
    assert!(
        !logs.join("app.log.000001.gz").exists(),
        "the target of a planted link was compressed into the logs"
    );
    let link = std::fs::read_link(logs.join("app.log")).unwrap();
    assert!(
        link.to_str().unwrap().starts_with("app.log.0000") && link != Path::new("app.log.000002"),
        "app.log points at {}",
        link.display()
    );
}

#[test]
fn a_log_folder_others_can_write_to_or_a_symlinked_one_is_refused_with_exit_2() {
    for loose in [0o777, 0o770, 0o1777] {
        let project = Project::new(TICKER);
        let logs = project.path("logs");
        std::fs::create_dir(&logs).unwrap();
        chmod(&logs, loose);
        let out = project.svc(&["start"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "mode {loose:o}: {}",
            stderr(&out)
        );
        let message = stderr(&out);
        assert!(
            message.contains(&logs.display().to_string())
                && message.contains("writable by group or others")
                && message.contains(&format!("chmod go-w {}", logs.display())),
            "{message}"
        );
        assert_eq!(mode(&logs), loose, "a refused folder is not touched");
        assert!(!logs.join("svc.log").exists(), "nothing written in it");
    }

    let project = Project::new(TICKER);
    let real = tempfile::tempdir().unwrap();
    let logs = project.path("logs");
    std::os::unix::fs::symlink(real.path(), &logs).unwrap();
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("log_dir {} is a symlink", logs.display())),
        "{}",
        stderr(&out)
    );
    // The daemon itself (systemd runs it in the foreground) refuses it too.
    let out = project.svc(&["start", "--foreground"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(real.path()).unwrap().count(), 0);

    if !is_root() {
        eprintln!("not root: cannot make a folder of another user; checked the rest");
        return;
    }
    let project = Project::new(TICKER);
    let logs = project.path("logs");
    std::fs::create_dir(&logs).unwrap();
    chmod(&logs, 0o750);
    std::os::unix::fs::chown(&logs, Some(65534), Some(65534)).unwrap();
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("log_dir {} belongs to uid 65534", logs.display())),
        "{}",
        stderr(&out)
    );
}

/// Every file and folder under `dir`, symlinks included (not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// The repository's svc.toml on a free port, in a temp folder.
fn repository_stack(port: u16) -> Project {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/svc.toml")).unwrap();
    Project::new(&toml.replace("3000", &port.to_string()))
}

#[test]
fn what_svc_start_makes_is_closed_to_other_users() {
    let port = free_port();
    let project = repository_stack(port);
    project.start();
    // A user and their welcome email: the database and the outbox hold something.
    let body =
        r#"{"name":"Ann Example","email":"ann@example.com","password":"correct horse battery"}"#;
    let (status, reply) = http(
        port,
        "POST",
        "/api/users",
        &[("Content-Type", "application/json")],
        body,
    )
    .unwrap();
    assert_eq!(status, 201, "{reply}");
    let outbox = project.path("data/outbox");
    let mailed = holds_within(PATIENCE, || {
        std::fs::read_dir(&outbox).is_ok_and(|mut e| {
            e.any(|f| f.is_ok_and(|f| f.path().extension().is_some_and(|x| x == "eml")))
        })
    });
    assert!(mailed, "no email in {}", outbox.display());
    // Rotated and compressed files too.
    assert_ok(&project.svc(&["logs", "--rotate"]), "svc logs --rotate");
    wait_until("the rotated log to be compressed", || {
        project.path("logs/app.log.000001.gz").exists()
    });

    assert_eq!(mode(&project.path("data")), 0o700);
    assert_eq!(mode(&project.path("run")), 0o700);
    assert_eq!(mode(&project.path("logs")), 0o750);
    let mut seen = 0;
    for top in ["data", "logs", "run"] {
        for path in walk(&project.path(top)) {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                // Symlinks have no mode of their own; ours point inside the folder.
                let target = std::fs::read_link(&path).unwrap();
                assert!(
                    target.is_relative(),
                    "{} -> {}",
                    path.display(),
                    target.display()
                );
                continue;
            }
            seen += 1;
            let mode = meta.mode() & 0o7777;
            let shown = format!("{} is {mode:04o}", path.display());
            assert_eq!(mode & 0o022, 0, "writable by group or others: {shown}");
            if top == "logs" {
                let most = if meta.is_dir() { 0o750 } else { 0o640 };
                assert_eq!(mode & !most, 0, "looser than {most:04o}: {shown}");
            } else {
                assert_eq!(mode & 0o077, 0, "open to group or others: {shown}");
            }
        }
    }
    for must in [
        "data/svc.db",
        "data/svc.db-wal",
        "logs/svc.log",
        "logs/app.log.000002",
        "logs/app.log.000001.gz",
        "run/svc.sock",
        "run/svc.pid",
    ] {
        assert!(
            project.path(must).exists(),
            "{must} was not made, so not checked"
        );
    }
    assert!(seen >= 10, "only {seen} files checked");
}

#[test]
fn an_older_looser_data_folder_is_tightened_with_a_log_line_and_another_users_is_refused() {
    let port = free_port();
    let project = repository_stack(port);
    let data = project.path("data");
    std::fs::create_dir_all(data.join("outbox")).unwrap();
    std::fs::write(
        data.join("outbox/welcome-old.eml"),
        "Subject: hi\r\n\r\nold\r\n",
    )
    .unwrap();
    chmod(&data.join("outbox/welcome-old.eml"), 0o644);
    chmod(&data.join("outbox"), 0o755);
    chmod(&data, 0o755);
    let logs = project.path("logs");
    std::fs::create_dir(&logs).unwrap();
    chmod(&logs, 0o755);
    std::fs::write(logs.join("app.log.000001"), "").unwrap();
    chmod(&logs.join("app.log.000001"), 0o644);
    project.start();

    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("outbox")), 0o700);
    assert_eq!(mode(&data.join("outbox/welcome-old.eml")), 0o600);
    assert_eq!(mode(&data.join("svc.db")), 0o600);
    assert_eq!(mode(&logs), 0o750);
    assert_eq!(mode(&logs.join("app.log.000001")), 0o640);
    // One line for each, in the log of the program that tightened it.
    let lines = |needle: &str| -> usize {
        let out = project.svc(&["logs", "-n", "10000", "--json"]);
        assert_ok(&out, "svc logs");
        stdout(&out).lines().filter(|l| l.contains(needle)).count()
    };
    wait_until("a log line saying DATA_DIR was tightened", || {
        lines("DATA_DIR was mode 0755, now 0700") >= 1
    });
    assert!(lines("outbox folder was mode 0755, now 0700") >= 1);
    assert!(lines("an outbox file was mode 0644, now 0600") >= 1);

    if !is_root() {
        eprintln!("not root: cannot make a folder of another user; checked the rest");
        return;
    }
    let foreign = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(foreign.path(), Some(65534), Some(65534)).unwrap();
    for program in ["api", "worker"] {
        let mut command = Command::new(SVC);
        command
            .arg(program)
            .env("DATA_DIR", foreign.path())
            .env("PORT", free_port().to_string())
            .env_remove("DB_URL")
            .env_remove("REDIS_URL")
            .env_remove("REDIS_HOST")
            .env_remove("SMTP_URL")
            .current_dir(foreign.path());
        let out = run(command);
        assert_eq!(
            out.status.code(),
            Some(2),
            "svc {program}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!(
                "DATA_DIR {} belongs to uid 65534",
                foreign.path().display()
            )),
            "svc {program}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn log_group_gives_the_log_folder_and_files_to_a_group_and_an_unknown_one_is_refused() {
    let project = Project::new(&format!("[daemon]\nlog_group = \"nogroup\"\n{TICKER}"));
    if !is_root() {
        eprintln!("not root: cannot give files another group");
        return;
    }
    project.start();
    let logs = project.path("logs");
    wait_until("the ticker's lines in app.log", || {
        std::fs::read_to_string(logs.join("app.log")).is_ok_and(|t| t.contains("tick"))
    });
    for path in [
        logs.clone(),
        logs.join("app.log.000001"),
        logs.join("svc.log"),
    ] {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.gid(), 65534, "{}", path.display());
        let want = if meta.is_dir() { 0o750 } else { 0o640 };
        assert_eq!(meta.mode() & 0o7777, want, "{}", path.display());
    }

    let unknown = Project::new(&format!(
        "[daemon]\nlog_dir = \"logs\"\nlog_group = \"no-such-group-here\"\n{TICKER}"
    ));
    let out = unknown.svc(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let want = format!(
        "{}:3:13: daemon.log_group: no group \"no-such-group-here\"",
        unknown.config().display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}
