//! Fitting into the places users live: systemd units, the daemon's metrics, the live status view.

use crate::common::harness;
use crate::common::wait::{PATIENCE, holds_within};

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use harness::*;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_systemd_unit_is_ready_aware_and_verifies() {
    let project =
        Project::new("[programs.web]\ncommand = [\"sleep\", \"300\"]\nstop_timeout = \"40s\"\n");
    let out = project.svc(&["startup", "systemd"]);
    assert_ok(&out, "svc startup systemd");
    let unit = stdout(&out);
    for line in [
        "Type=notify",
        "KillMode=mixed",
        "Restart=on-failure",
        "TimeoutStopSec=55",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    let config = project.config();
    assert!(
        unit.contains(&format!(
            "ExecStart={SVC} --config {} start --foreground",
            config.display()
        )),
        "{unit}"
    );
    assert!(
        unit.contains(&format!(
            "ExecStop={SVC} --config {} stop",
            config.display()
        )),
        "{unit}"
    );

    assert!(
        have("systemd-analyze"),
        "systemd-analyze is missing: scripts/test.sh installs systemd"
    );
    let path = project.path("svc-test-app.service");
    std::fs::write(&path, &unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert_eq!(stderr(&verify).trim(), "", "systemd-analyze warned");
}

#[test]
fn the_daemon_serves_prometheus_metrics_only_when_asked() {
    let port = free_port();
    let project = Project::new(&format!(
        "[daemon]\nmetrics = \"127.0.0.1:{port}\"\n[programs.web]\ncommand = [\"sleep\", \"300\"]\ninstances = 2\nready = {{ uptime = \"0s\" }}\n"
    ));
    project.start();
    let body = scrape(port);
    assert!(body.contains("# TYPE svc_up gauge"), "{body}");
    assert!(
        body.contains("svc_up{program=\"web\",instance=\"0\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("svc_up{program=\"web\",instance=\"1\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("svc_state{program=\"web\",instance=\"0\",state=\"online\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("svc_memory_bytes{program=\"web\",instance=\"0\"} "),
        "{body}"
    );

    kill(pid_of(&project.instance("web", 1)), "KILL");
    project.wait_instance("web", 1, "restarted", |i| {
        i["restarts"] == 1 && i["state"] == "online"
    });
    let body = scrape(port);
    assert!(
        body.contains("svc_restarts_total{program=\"web\",instance=\"1\",reason=\"crash\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("svc_last_exit_code{program=\"web\",instance=\"1\"} 137"),
        "{body}"
    );

    // Without `metrics`, the daemon listens on no TCP port at all.
    let quiet = Project::new(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nready = { uptime = \"0s\" }\n",
    );
    quiet.start();
    let daemon = quiet.daemon_pid().unwrap();
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let listening = tcp.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9])
    });
    assert!(
        !listening,
        "the daemon opened a TCP port without being asked"
    );
}

fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{reply}"
    );
    reply
}

#[test]
fn status_watch_redraws_the_table_in_a_real_terminal() {
    assert!(have("tmux"), "tmux is missing: scripts/test.sh installs it");
    let project = Project::new(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\ninstances = 2\nready = { uptime = \"0s\" }\n",
    );
    project.start();
    let session = format!("svc-watch-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let command = format!(
        "{SVC} --config {} status --watch",
        project.config().display()
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let capture = || stdout(&tmux(&["capture-pane", "-p", "-t", &session]));
    let first_pid = pid_of(&project.instance("web", 0)).to_string();
    let shown = holds_within(PATIENCE, || {
        let screen = capture();
        screen.contains("Ctrl-C to quit")
            && screen.contains(&first_pid)
            && screen.matches("online").count() == 2
    });
    assert!(shown, "the table did not appear:\n{}", capture());

    // A restart shows up in place, without scrolling the old table off.
    kill(pid_of(&project.instance("web", 0)), "KILL");
    let redrawn = holds_within(PATIENCE, || {
        let screen = capture();
        !screen.contains(&first_pid)
            && screen.matches("Ctrl-C to quit").count() == 1
            && screen.matches("online").count() == 2
    });
    assert!(redrawn, "the table was not redrawn:\n{}", capture());
    tmux(&["send-keys", "-t", &session, "C-c", ""]);
    let quit = holds_within(PATIENCE, || {
        !tmux(&["has-session", "-t", &session]).status.success()
    });
    if !quit {
        tmux(&["kill-session", "-t", &session]);
    }
    assert!(quit, "Ctrl-C did not end svc status --watch");
}
