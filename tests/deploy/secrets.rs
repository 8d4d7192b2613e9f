//! Secrets never shown: a distinctive secret in every place a value can come from (`.env`,
//! `[env]`, a program's `env`, the daemon's own environment) reaches the programs of a real
//! daemon, and appears in none of `svc config check`, `svc start`, `svc status`, `svc logs` and
//! the log files (svc.log, app.log, error.log, rotated or not).

use crate::common::harness;
use crate::common::wait::wait_until;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::*;

/// One secret per source, each long enough to be an `AUTH_SECRET`.
const DOTENV: &str = "canary-dotenv-5d0b8e2a7c914f63b1e2d9a0c7f4";
const DOTENV_URL: &str = "canary-dotenv-url-e4a91c0b6d2f8537a9c1e0";
const TABLE: &str = "canary-table-9f2c7a1e4b8d3065c2e7a9f1b4d8";
const TABLE_URL: &str = "canary-table-url-1b7e3d9c5a2f8046e1c3b7d9";
const PROGRAM: &str = "canary-program-3f9a1c7e5b2d4068a1f3c9e7b5d2";
const PROGRAM_URL: &str = "canary-program-url-8c2e6a0d4f1b9735c8e2a6";
const DAEMON: &str = "canary-daemon-7e1d5b9f3a6c2084d7e1b5f9a3c6";
const DAEMON_URL: &str = "canary-daemon-url-2a6f0c8e4d1b7593a2f6c0";

const ALL: [&str; 8] = [
    DOTENV,
    DOTENV_URL,
    TABLE,
    TABLE_URL,
    PROGRAM,
    PROGRAM_URL,
    DAEMON,
    DAEMON_URL,
];

/// An api, a worker whose SMTP server is down (so its job fails and logs errors), a shell
/// program that records its environment in a file (proof that every secret reached the
/// programs), and a worker that refuses its plain-text SMTP credentials.
fn project(port: u16, closed: u16) -> Project {
    let project = Project::new(&format!(
        r#"
[env]
LOG_LEVEL = "info"
SESSION_SECRET = "{TABLE}"
SMTP_URL = "smtps://mailer:{TABLE_URL}@127.0.0.1:{closed}"

[programs.api]
command = ["svc", "api"]
env = {{ PORT = "{port}", AUTH_SECRET = "{PROGRAM}" }}
ready = "notify"

[programs.worker]
command = ["svc", "worker"]
ready = "notify"

[programs.shell]
command = ["sh", "-c", "env > seen.env; echo shell up; echo shell warns >&2; exec sleep 600"]

[programs.plain-smtp]
command = ["svc", "worker"]
env = {{ SMTP_URL = "smtp://mailer:{PROGRAM_URL}@127.0.0.1:{closed}" }}
autostart = false
restart = "never"
ready = "notify"
"#
    ));
    std::fs::write(
        project.path(".env"),
        format!(
            "DOTENV_PASSWORD={DOTENV}\nARCHIVE_URL=sftp://backup:{DOTENV_URL}@archive.example.com/x\n"
        ),
    )
    .unwrap();
    project
}

/// `svc --config … ARGS` with the daemon's own secrets in its environment (the daemon started by
/// `svc start` inherits them, and passes them on to every program).
fn svc(project: &Project, args: &[&str]) -> (String, String) {
    let mut command = Command::new(SVC);
    command
        .arg("--config")
        .arg(project.config())
        .args(args)
        .env("DAEMON_API_KEY", DAEMON)
        .env(
            "MIRROR_URL",
            format!("https://mirror:{DAEMON_URL}@mirror.example.com/"),
        );
    for name in ["SMTP_URL", "REDIS_URL", "DB_URL", "AUTH_SECRET"] {
        command.env_remove(name);
    }
    let out = run(command);
    (stdout(&out), stderr(&out))
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in ALL {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

/// Every file under `dir` (gzip ones decompressed), by path.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = if path.extension().is_some_and(|x| x == "gz") {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        found.push((path, text));
    }
    found
}

#[test]
fn no_secret_reaches_an_output_or_a_log() {
    let (port, closed) = (free_port(), free_port());
    let project = project(port, closed);
    let mut outputs = Vec::new();

    let (checked, _) = svc(&project, &["config", "check"]);
    assert!(checked.contains("valid"), "{checked}");
    for shown in [
        "SESSION_SECRET = \"***\"",
        "DOTENV_PASSWORD = \"***\"",
        "AUTH_SECRET = \"***\"",
        "smtps://mailer:***@127.0.0.1",
        "smtp://mailer:***@127.0.0.1",
        "sftp://backup:***@archive.example.com/x",
    ] {
        assert!(checked.contains(shown), "{shown} missing from:\n{checked}");
    }
    outputs.push(("svc config check", checked));
    let (clear, _) = svc(&project, &["config", "check", "--show-secrets"]);
    for secret in [DOTENV, DOTENV_URL, TABLE, TABLE_URL, PROGRAM, PROGRAM_URL] {
        assert!(clear.contains(secret), "--show-secrets hides {secret}");
    }

    outputs.push(("svc start", svc(&project, &["start"]).0));
    let status = project.status();
    assert!(
        status
            .iter()
            .filter(|i| i["name"] != "plain-smtp")
            .all(|i| i["state"] == "online"),
        "{status:#?}"
    );
    let seen = project.path("seen.env");
    wait_until("the program to write what it saw", || seen.exists());
    wait_until("the shell's environment", || {
        let env = std::fs::read_to_string(&seen).unwrap_or_default();
        ALL.iter()
            .filter(|s| **s != PROGRAM && **s != PROGRAM_URL)
            .all(|s| env.contains(s))
    });

    // The worker refusing plain-text credentials: its refusal is logged, its password is not.
    let (refused, refused_err) = svc(&project, &["start", "plain-smtp"]);
    outputs.push(("svc start plain-smtp", format!("{refused}\n{refused_err}")));

    // A sign-up whose welcome email fails: the worker logs errors about it.
    let (code, reply) = http(
        port,
        "POST",
        "/api/users",
        &[("Content-Type", "application/json")],
        r#"{"name":"Ann Example","email":"ann@example.com","password":"correct horse battery"}"#,
    )
    .unwrap();
    assert_eq!(code, 201, "{reply}");
    let app_log = project.path("logs/app.log");
    wait_until("the failed email attempt", || {
        std::fs::read_to_string(&app_log).is_ok_and(|log| log.contains("job attempt failed"))
    });
    let error_log = project.path("logs/error.log");
    wait_until("the refusal in error.log", || {
        std::fs::read_to_string(&error_log)
            .is_ok_and(|log| log.contains("SMTP_URL has credentials"))
    });

    outputs.push(("svc status", svc(&project, &["status"]).0));
    outputs.push(("svc status --json", svc(&project, &["status", "--json"]).0));
    outputs.push(("svc logs", svc(&project, &["logs", "-n", "1000"]).0));
    outputs.push(("svc stop", svc(&project, &["stop"]).0));
    for (what, text) in &outputs {
        assert_no_secret(what, text);
    }

    let logs = files(&project.path("logs"));
    for name in ["svc.log", "app.log", "error.log"] {
        let path = project.path("logs").join(name);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "{name} is missing or empty"
        );
    }
    for (path, text) in &logs {
        assert_no_secret(&path.display().to_string(), text);
    }
}
