//! The supervisor end to end: the real `svc` binary, a real daemon, real processes and signals.

use crate::common::harness;
use crate::common::wait::{wait_for, wait_until};

use std::time::{Duration, Instant};

use harness::*;

fn program(name: &str, command: &str, extra: &str) -> String {
    format!("[programs.{name}]\ncommand = [\"sh\", \"-c\", {command:?}]\n{extra}\n")
}

#[test]
fn start_runs_every_instance_with_its_env_and_start_twice_keeps_one_daemon() {
    let project = Project::new(&format!(
        "[env]\nSHARED = \"from-env\"\n{}",
        program(
            "web",
            "echo \"$SVC_PROGRAM $SVC_INSTANCE $SHARED $OWN $FROM_DOTENV\" > out.$SVC_INSTANCE; exec sleep 300",
            "instances = 2\nenv = { OWN = 7 }\ncwd = \"work\"",
        )
    ));
    std::fs::create_dir(project.path("work")).unwrap();
    std::fs::write(project.path(".env"), "FROM_DOTENV=dotenv\n").unwrap();
    let out = project.start();
    let table = stdout(&out);
    assert!(table.contains("online"), "{table}");

    let status = project.status();
    assert_eq!(status.len(), 2);
    for (i, instance) in status.iter().enumerate() {
        assert_eq!(instance["name"], "web");
        assert_eq!(instance["state"], "online");
        assert_eq!(instance["restarts"], 0);
        assert!(alive(pid_of(instance)));
        for key in ["uptime_secs", "memory_bytes", "cpu_percent", "last_exit"] {
            assert!(instance.get(key).is_some(), "{key} missing in {instance}");
        }
        let path = project.path(&format!("work/out.{i}"));
        wait_until(&format!("instance {i} to write {}", path.display()), || {
            path.exists()
        });
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            format!("web {i} from-env 7 dotenv")
        );
    }
    let daemon = project.daemon_pid().expect("pid file");
    project.start();
    assert_eq!(
        project.daemon_pid(),
        Some(daemon),
        "a second start made a second daemon"
    );
    assert_eq!(
        pid_of(&project.instance("web", 0)),
        pid_of(&status[0]),
        "a second start restarted the program"
    );
}

#[test]
fn a_crashed_instance_is_restarted_and_counted() {
    let project = Project::new(&program("web", "exec sleep 300", "restart_delay = \"0ms\""));
    project.start();
    let first = pid_of(&project.instance("web", 0));
    kill(first, "KILL");
    let after = project.wait_instance("web", 0, "restarted", |i| {
        i["state"] == "online" && i["pid"].as_i64().is_some_and(|p| p as i32 != first)
    });
    assert_eq!(after["restarts"], 1);
    assert_eq!(after["last_exit"]["signal"], "SIGKILL");
    assert!(!alive(first));
}

#[test]
fn a_crash_loop_backs_off_then_errors_and_restart_clears_it() {
    let project = Project::new(&program(
        "bad",
        "echo crashing; exit 3",
        "restart_delay = \"20ms\"\nmax_restart_delay = \"80ms\"\nmin_uptime = \"1s\"\nmax_restarts = 3",
    ));
    let started = Instant::now();
    let out = project.svc(&["start"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "start must fail: {}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("bad[0]"), "{}", stderr(&out));
    let errored = project.wait_instance("bad", 0, "errored", |i| i["state"] == "errored");
    // 3 restarts after 20, 40, 80 ms (capped): at least 140 ms of backoff in all.
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(errored["restarts"], 3);
    assert_eq!(errored["last_exit"]["code"], 3);
    assert!(
        errored["reason"].as_str().unwrap().contains("gave up"),
        "{errored}"
    );
    assert!(errored["pid"].is_null());

    let out = project.svc(&["restart", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let again = project.wait_instance("bad", 0, "errored again", |i| {
        i["state"] == "errored" && i["restarts"].as_u64() == Some(6)
    });
    assert_eq!(again["last_exit"]["code"], 3);
}

#[test]
fn stop_lets_a_sigterm_handler_finish_its_work() {
    let project = Project::new(&program(
        "calm",
        "trap 'sleep 0.3; echo drained > drained; exit 0' TERM; while :; do sleep 0.05; done",
        "stop_timeout = \"5s\"",
    ));
    project.start();
    let pid = pid_of(&project.instance("calm", 0));
    let out = project.svc(&["stop", "calm"]);
    assert_ok(&out, "svc stop calm");
    assert_eq!(
        std::fs::read_to_string(project.path("drained"))
            .unwrap()
            .trim(),
        "drained"
    );
    let stopped = project.instance("calm", 0);
    assert_eq!(stopped["state"], "stopped");
    assert_eq!(stopped["last_exit"]["code"], 0, "it was killed: {stopped}");
    assert!(!alive(pid));
}

#[test]
fn stop_kills_the_group_after_stop_timeout() {
    let project = Project::new(&program(
        "stubborn",
        "trap '' TERM; while :; do sleep 0.05; done",
        "stop_timeout = \"300ms\"",
    ));
    project.start();
    let pid = pid_of(&project.instance("stubborn", 0));
    let began = Instant::now();
    assert_ok(&project.svc(&["stop", "stubborn"]), "svc stop");
    assert!(began.elapsed() >= Duration::from_millis(300));
    let stopped = project.instance("stubborn", 0);
    assert_eq!(stopped["last_exit"]["signal"], "SIGKILL");
    assert!(!alive(pid));
}

#[test]
fn no_grandchild_survives_a_stop() {
    let project = Project::new(&program(
        "family",
        "sleep 300 & echo $! > grandchild; setsid sleep 301 & echo $! > escaped; wait",
        "",
    ));
    project.start();
    let (grandchild, escaped) = wait_for("the grandchild's and the escaped child's pids", || {
        Some((
            read_pid(&project.path("grandchild"))?,
            read_pid(&project.path("escaped"))?,
        ))
    });
    assert!(alive(grandchild) && alive(escaped));

    assert_ok(&project.svc(&["stop", "family"]), "svc stop family");
    assert!(
        !alive(grandchild),
        "the grandchild in the group survived the stop"
    );
    // One that left the process group is re-parented to the daemon (a subreaper) ...
    assert_eq!(parent(escaped), project.daemon_pid());
    // ... and terminated when the daemon shuts down.
    assert_ok(&project.svc(&["stop"]), "svc stop");
    wait_until("the escaped grandchild to die with the daemon", || {
        !alive(escaped)
    });
}

#[test]
fn children_of_a_killed_daemon_stop_and_the_next_start_cleans_up() {
    let project = Project::new(&program(
        "web",
        "trap 'echo got-term > term.$$; exit 0' TERM; while :; do sleep 0.05; done",
        "instances = 2",
    ));
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let pids: Vec<i32> = project.status().iter().map(pid_of).collect();
    kill(daemon, "KILL");
    for pid in &pids {
        wait_until(&format!("the unsupervised child {pid} to stop"), || {
            !alive(*pid)
        });
        assert!(
            project.path(&format!("term.{pid}")).exists(),
            "child {pid} got no SIGTERM"
        );
    }
    assert!(
        project.path("run/svc.sock").exists(),
        "expected a stale socket to clean up"
    );
    project.start();
    let new_daemon = project.daemon_pid().unwrap();
    assert_ne!(new_daemon, daemon);
    assert!(project.status().iter().all(|i| i["state"] == "online"));
}

#[test]
fn a_start_waits_for_a_dying_daemon_to_let_go_of_the_pid_file_then_starts() {
    let project = Project::new(&program("web", "exec sleep 300", ""));
    project.start();
    let first = project.daemon_pid().unwrap();
    assert_ok(&project.svc(&["stop"]), "svc stop");
    // A daemon killed just now holds the lock until its last thread is gone, and never answers.
    let pid_file = project.path("run/svc.pid");
    let mut dying = std::process::Command::new("flock")
        .arg(&pid_file)
        .args(["sleep", "1"])
        .spawn()
        .unwrap();
    wait_until("the pid file to be locked", || {
        !std::process::Command::new("flock")
            .args(["-n", "-s"])
            .arg(&pid_file)
            .arg("true")
            .status()
            .unwrap()
            .success()
    });
    project.start();
    assert!(
        dying.try_wait().unwrap().is_some(),
        "started while the pid file was still locked"
    );
    assert_ne!(project.daemon_pid(), Some(first));
    assert_eq!(project.instance("web", 0)["state"], "online");
}

#[test]
fn sigterm_to_the_daemon_drains_everything_and_sighup_does_not() {
    let project = Project::new(&program("web", "exec sleep 300", "instances = 2"));
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let pids: Vec<i32> = project.status().iter().map(pid_of).collect();
    kill(daemon, "HUP");
    wait_until("the daemon to log that it handled SIGHUP", || {
        std::fs::read_to_string(project.path("logs/svc.log"))
            .is_ok_and(|log| log.contains("SIGHUP: svc.toml applied"))
    });
    assert!(alive(daemon));
    assert!(project.status().iter().all(|i| i["state"] == "online"));

    kill(daemon, "TERM");
    wait_until("the daemon to exit", || !alive(daemon));
    assert!(pids.iter().all(|p| !alive(*p)));
    assert!(!project.path("run/svc.sock").exists(), "socket left behind");
    assert!(
        !project.path("run/svc.pid").exists(),
        "pid file left behind"
    );
}

#[test]
fn stop_everything_waits_for_every_child_then_the_daemon_exits() {
    let project = Project::new(&format!(
        "{}{}",
        program(
            "a",
            "trap 'sleep 0.2; exit 0' TERM; while :; do sleep 0.05; done",
            ""
        ),
        program("b", "exec sleep 300", "instances = 2"),
    ));
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let pids: Vec<i32> = project.status().iter().map(pid_of).collect();
    let out = project.svc(&["stop"]);
    assert_ok(&out, "svc stop");
    assert!(stdout(&out).contains("daemon"), "{}", stdout(&out));
    assert!(pids.iter().all(|p| !alive(*p)), "a child outlived svc stop");
    assert!(!alive(daemon), "svc stop returned before the daemon exited");
    let out = project.svc(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "status with no daemon: {}",
        stderr(&out)
    );
}

#[test]
fn signal_reaches_every_instance() {
    let project = Project::new(&program(
        "web",
        "trap 'echo usr1 >> got.$SVC_INSTANCE' USR1; while :; do sleep 0.05; done",
        "instances = 2",
    ));
    project.start();
    let out = project.svc(&["signal", "web", "SIGUSR1"]);
    assert_ok(&out, "svc signal");
    for i in 0..2 {
        let path = project.path(&format!("got.{i}"));
        wait_until(&format!("instance {i} to get SIGUSR1"), || path.exists());
    }
    let out = project.svc(&["signal", "web", "SIGNOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
    let out = project.svc(&["signal", "nope", "HUP"]);
    assert!(
        stderr(&out).contains("unknown program nope"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn restart_policies_end_in_exited_or_errored() {
    let project = Project::new(&format!(
        "{}{}{}",
        program(
            "once",
            "echo ran >> once.runs; exit 0",
            "restart = \"never\""
        ),
        program("fails", "exit 4", "restart = \"never\""),
        program("job", "exit 0", "restart = \"on-failure\""),
    ));
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(1), "`fails` failed, so start fails");
    assert!(stderr(&out).contains("fails[0]"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("once[0]"), "{}", stderr(&out));
    project.wait_instance("once", 0, "exited", |i| i["state"] == "exited");
    let runs = std::fs::read_to_string(project.path("once.runs")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the first `svc start` ran a one-shot program twice"
    );
    project.wait_instance("job", 0, "exited", |i| i["state"] == "exited");
    let fails = project.wait_instance("fails", 0, "errored", |i| i["state"] == "errored");
    assert_eq!(fails["last_exit"]["code"], 4);
}

#[test]
fn readiness_waits_for_notify_and_probes_and_times_out() {
    let port = free_port();
    let project = Project::new(&format!(
        "{}{}{}",
        // `svc worker` speaks the notify protocol.
        "[programs.notifier]\ncommand = [\"svc\", \"worker\"]\nready = \"notify\"\n",
        program(
            "listener",
            &format!("sleep 0.3; exec python3 -m http.server {port} --bind 127.0.0.1"),
            &format!("ready = {{ http = \"http://127.0.0.1:{port}/\", timeout = \"10s\" }}"),
        ),
        program(
            "mute",
            "exec sleep 300",
            "ready = { tcp = \"127.0.0.1:1\", timeout = \"300ms\" }\nrestart = \"never\""
        ),
    ));
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(1), "mute never gets ready");
    assert!(
        stderr(&out).contains("not ready within 300 ms"),
        "{}",
        stderr(&out)
    );
    assert_eq!(project.instance("notifier", 0)["state"], "online");
    assert_eq!(project.instance("listener", 0)["state"], "online");
    let listener = project.instance("listener", 0);
    // Online only once the server answered: it slept 0.3 s first.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "{listener}"
    );
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let project =
        Project::new("[programs.web]\ncommand = [\"sleep\", \"1\"]\nrestart_delay = \"soon\"\n");
    for args in [&["config", "check"][..], &["start"][..]] {
        let out = project.svc(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("svc.toml:3:"), "{err}");
        assert!(err.contains("programs.web.restart_delay"), "{err}");
    }
    assert!(
        project.daemon_pid().is_none(),
        "a daemon started on a bad config"
    );

    let good = Project::new(&program("web", "exec sleep 1", ""));
    let out = good.svc(&["config", "check"]);
    assert_ok(&out, "config check");
    assert!(
        stdout(&out).contains("valid (1 programs, 1 instances)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("restart_delay") || stdout(&out).contains("delay = \"100ms\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_control_socket_is_private_and_refuses_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let project = Project::new(&program("web", "exec sleep 300", ""));
    project.start();
    let state_dir = std::fs::metadata(project.path("run")).unwrap();
    assert_eq!(state_dir.permissions().mode() & 0o777, 0o700);
    let socket = std::fs::metadata(project.path("run/svc.sock")).unwrap();
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);

    if !is_root() {
        eprintln!("not root: cannot run a client as another user; checked the modes only");
        return;
    }
    // Open the folder and socket to everyone: the daemon must still refuse another uid.
    std::fs::set_permissions(project.path("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        project.path("run/svc.sock"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    std::fs::set_permissions(project.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(project.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = std::process::Command::new("setpriv");
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SVC,
            "--config",
        ])
        .arg(project.config())
        .args(["status"]);
    let out = run(command);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn garbage_on_the_socket_gets_an_error_and_the_daemon_keeps_serving() {
    use std::io::{Read, Write};
    let project = Project::new(&program("web", "exec sleep 300", ""));
    project.start();
    let socket = project.path("run/svc.sock");
    let cases: Vec<Vec<u8>> = vec![
        b"hello\n".to_vec(),
        b"{\"v\":1,\"cmd\":\"reboot\"}\n".to_vec(),
        b"{\"v\":99,\"cmd\":\"status\"}\n".to_vec(),
        b"\xff\xfe\xfd\n".to_vec(),
        vec![b'x'; 2 << 20],
    ];
    for case in cases {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let _ = stream.write_all(&case);
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        assert!(
            reply.contains("\"result\":\"error\""),
            "no error reply: {reply:?}"
        );
    }
    assert_eq!(project.instance("web", 0)["state"], "online");
}

#[test]
fn racing_starts_make_one_daemon() {
    let project = Project::new(&program("web", "exec sleep 300", ""));
    let config = project.config();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut command = std::process::Command::new(SVC);
                command.arg("--config").arg(config).arg("start");
                run(command)
            })
        })
        .collect();
    for racer in racers {
        assert_ok(&racer.join().unwrap(), "racing svc start");
    }
    let daemon = project.daemon_pid().unwrap();
    let daemons = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains(&*config.to_string_lossy()) && c.contains("--foreground")
            })
        })
        .count();
    assert_eq!(daemons, 1, "daemon {daemon}");
    assert_eq!(project.status().len(), 1);
}

/// A server program on a daemon-held listening socket, ready by notify.
fn http_server_project(port: u16, instances: u32) -> Project {
    let script = format!(
        "{}/tests/fixtures/http_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    Project::new(&format!(
        "[programs.web]\ncommand = [\"python3\", {script:?}]\ninstances = {instances}\nlisten = \"127.0.0.1:{port}\"\nready = {{ notify = true, timeout = \"2s\" }}\nenv = {{ NEVER_READY_FILE = \"never-ready\" }}\n"
    ))
}

/// One GET on a new connection; the answering pid.
fn get_pid(port: u16) -> Result<i32, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    if !reply.starts_with("HTTP/1.0 200") {
        return Err(format!("bad reply {reply:?}"));
    }
    reply
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or(reply)
}

#[test]
fn reload_replaces_every_instance_without_a_failed_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let port = free_port();
    let project = http_server_project(port, 2);
    project.start();
    let old: Vec<i32> = project.status().iter().map(pid_of).collect();

    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !done.load(Ordering::Relaxed) {
                match get_pid(port) {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        })
    };
    // Pacing: the load runs before, during and after the reload.
    std::thread::sleep(Duration::from_millis(200));
    let out = project.svc(&["reload", "web"]);
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    assert_ok(&out, "svc reload web");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 20, "only {ok} requests made it through");

    let new: Vec<i32> = project.status().iter().map(pid_of).collect();
    for pid in &old {
        assert!(
            !new.contains(pid) && !alive(*pid),
            "old process {pid} still runs"
        );
    }
    assert!(
        project
            .status()
            .iter()
            .all(|i| i["state"] == "online" && i["restarts"] == 0)
    );
    assert!(new.contains(&get_pid(port).unwrap()));
}

#[test]
fn a_reload_whose_new_process_never_gets_ready_keeps_the_old_ones() {
    let port = free_port();
    let project = http_server_project(port, 2);
    project.start();
    let old: Vec<i32> = project.status().iter().map(pid_of).collect();
    std::fs::write(project.path("never-ready"), "").unwrap();
    let out = project.svc(&["reload", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("web[0]: reload failed: not ready within 2000 ms"),
        "{}",
        stderr(&out)
    );
    let now: Vec<i32> = project.status().iter().map(pid_of).collect();
    assert_eq!(now, old, "the old processes must keep serving");
    assert!(old.contains(&get_pid(port).unwrap()));
    // Only the old processes are children of the daemon: the failed new one is gone.
    let daemon = project.daemon_pid().unwrap();
    let children: Vec<i32> =
        std::fs::read_to_string(format!("/proc/{daemon}/task/{daemon}/children"))
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
    assert_eq!(children.len(), 2, "{children:?}");
}
