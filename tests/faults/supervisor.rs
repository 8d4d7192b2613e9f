//! Fault suite for the supervisor: kill storms, a daemon killed again and again, a long crash
//! loop, a flood of clients and garbage on the control socket. Each case is bounded in time.
//!
//! The default (CI) variant is short; `SVC_FAULTS=long` runs the full-length variants that
//! `scripts/faults.sh` records in `docs/RELIABILITY.md`. Every case prints one `FIGURE` line.

use crate::common::harness;
use crate::common::wait::{PATIENCE, holds_within};

use std::collections::HashSet;
use std::time::{Duration, Instant};

use harness::*;

fn long() -> bool {
    std::env::var("SVC_FAULTS").is_ok_and(|v| v == "long")
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Direct children of `pid` and whether any of them is a zombie.
fn children(pid: i32) -> (Vec<i32>, usize) {
    let mut kids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        kids.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    let zombies = kids
        .iter()
        .filter(|k| {
            std::fs::read_to_string(format!("/proc/{k}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
        })
        .count();
    (kids, zombies)
}

/// Processes whose command line is exactly `marker` (a unique `sleep` argument).
fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == marker)
                && alive(*pid)
        })
        .collect()
}

#[test]
fn a_kill_storm_ends_with_every_instance_online_and_nothing_left_over() {
    let secs = if long() { 30 } else { 5 };
    let project = Project::new(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\ninstances = 4\nrestart_delay = \"0ms\"\nmin_uptime = \"20ms\"\nready = { uptime = \"0s\" }\n",
    );
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let rss_before = rss_kib(daemon);
    let mut kills = 0u64;
    let mut seed = u64::from(std::process::id());
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let online: Vec<i32> = project
            .status()
            .iter()
            .filter(|i| i["state"] == "online")
            .map(pid_of)
            .collect();
        if !online.is_empty() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            kill(online[(seed >> 33) as usize % online.len()], "KILL");
            kills += 1;
        }
        // Pacing of the kill storm.
        std::thread::sleep(Duration::from_millis(100));
    }
    let settled = holds_within(PATIENCE, || {
        let status = project.status();
        status.iter().all(|i| i["state"] == "online")
            && status
                .iter()
                .map(|i| i["restarts"].as_u64().unwrap())
                .sum::<u64>()
                == kills
    });
    let status = project.status();
    let restarts: u64 = status.iter().map(|i| i["restarts"].as_u64().unwrap()).sum();
    assert!(settled, "after {kills} kills: {status:#?}");
    let pids: HashSet<i32> = status.iter().map(pid_of).collect();
    let (kids, zombies) = children(daemon);
    assert_eq!(zombies, 0, "zombies left");
    assert_eq!(
        kids.iter().copied().collect::<HashSet<_>>(),
        pids,
        "orphans or strays among the daemon's children"
    );
    let rss_after = rss_kib(daemon);
    eprintln!(
        "FIGURE kill-storm: {secs} s, {kills} SIGKILLs, {restarts} restarts, 0 zombies, daemon RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 2048,
        "daemon RSS grew from {rss_before} to {rss_after} KiB"
    );
}

#[test]
fn a_daemon_killed_again_and_again_never_leaves_children_or_duplicates() {
    let rounds = if long() { 20 } else { 5 };
    let marker = format!("sleep 3{:05}", std::process::id() % 100_000);
    let project = Project::new(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"{}\"]\ninstances = 3\nready = {{ uptime = \"0s\" }}\n[programs.noisy]\ncommand = [\"sh\", \"-c\", \"while :; do echo tick; sleep 0.01; done\"]\nready = {{ uptime = \"0s\" }}\n",
        marker.trim_start_matches("sleep ")
    ));
    for round in 0..rounds {
        project.start();
        let running = processes_with(&marker);
        assert_eq!(
            running.len(),
            3,
            "round {round}: duplicate or missing instances: {running:?}"
        );
        let daemon = project.daemon_pid().unwrap();
        kill(daemon, "KILL");
        let gone = holds_within(PATIENCE, || processes_with(&marker).is_empty());
        assert!(
            gone,
            "round {round}: children outlived the killed daemon: {:?}",
            processes_with(&marker)
        );
    }
    eprintln!(
        "FIGURE daemon-kill: {rounds} rounds of start + SIGKILL to the daemon, 0 surviving children, 0 duplicates, 0 failed starts"
    );
}

#[test]
fn a_crash_loop_backs_off_to_its_cap_with_a_quiet_daemon_then_errors() {
    // Cap 200 ms: with max_restarts N the loop lasts about N * 0.2 s.
    let max_restarts = if long() { 1500 } else { 25 };
    let project = Project::new(&format!(
        "[programs.bad]\ncommand = [\"sh\", \"-c\", \"exit 1\"]\nrestart_delay = \"10ms\"\nmax_restart_delay = \"200ms\"\nmin_uptime = \"1s\"\nmax_restarts = {max_restarts}\n"
    ));
    let began = Instant::now();
    let _ = project.svc(&["start"]);
    let daemon = project.daemon_pid().unwrap();
    let ticks_before = cpu_ticks(daemon);
    let timeout = Duration::from_secs(max_restarts / 5 + 30);
    let errored = wait_for_slow(timeout, || project.instance("bad", 0)["state"] == "errored");
    let wall = began.elapsed();
    assert!(errored, "never errored");
    let cpu = (cpu_ticks(daemon) - ticks_before) as f64 / 100.0;
    let log = std::fs::read_to_string(project.path("logs/bad.log")).unwrap_or_default()
        + &std::fs::read_to_string(project.path("logs/app.log")).unwrap_or_default();
    let restart_lines = log.matches("restarting in").count() as u64;
    let capped = log.matches("restarting in 200 ms").count() as u64;
    let status = project.instance("bad", 0);
    eprintln!(
        "FIGURE crash-loop: {:.1} s, {} restarts, {capped} at the 200 ms cap, {restart_lines} restart log lines, daemon CPU {:.2} s ({:.1}% of wall)",
        wall.as_secs_f64(),
        status["restarts"],
        cpu,
        cpu / wall.as_secs_f64() * 100.0
    );
    assert_eq!(status["restarts"].as_u64(), Some(max_restarts));
    assert_eq!(
        restart_lines, max_restarts,
        "one log line per restart, not a flood"
    );
    assert!(
        capped >= max_restarts - 5,
        "the backoff did not cap at 200 ms"
    );
    // The backoff is not skipped: the run lasts at least the sum of its delays.
    let delays: u64 = (0..max_restarts)
        .map(|k| (10u64 << k.min(10)).min(200))
        .sum();
    assert!(
        wall >= Duration::from_millis(delays),
        "{wall:?} < {delays} ms of backoff"
    );
    assert!(
        cpu / wall.as_secs_f64() < 0.10,
        "daemon CPU {cpu} s over {wall:?}"
    );
}

/// Like `common::wait::holds_within`, but polling every 250 ms: each poll is an `svc status`
/// the daemon answers, and the test measures the daemon's CPU, which faster polling would inflate.
fn wait_for_slow(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[test]
fn a_thousand_parallel_clients_and_garbage_leave_the_daemon_serving() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let project = Project::new(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nready = { uptime = \"0s\" }\n",
    );
    project.start();
    let daemon = project.daemon_pid().unwrap();
    let socket = project.path("run/svc.sock");
    let rss_before = rss_kib(daemon);

    // A client that sends half a frame and falls silent is cut off by the read timeout ...
    let mut silent = UnixStream::connect(&socket).unwrap();
    silent.write_all(b"{\"v\":1,\"cmd\"").unwrap();
    // ... and 10 MB of garbage is refused at the frame cap.
    let garbage = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let mut stream = UnixStream::connect(socket).unwrap();
            let chunk = vec![b'g'; 1 << 20];
            for _ in 0..10 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            reply
        })
    };

    // 1,000 status requests, 250 connections open at a time.
    let began = Instant::now();
    let mut answered = 0;
    for _ in 0..4 {
        let mut streams: Vec<UnixStream> = (0..250)
            .map(|_| UnixStream::connect(&socket).unwrap())
            .collect();
        for s in &mut streams {
            s.write_all(b"{\"v\":1,\"cmd\":\"status\"}\n").unwrap();
        }
        for s in &mut streams {
            let mut reply = String::new();
            s.read_to_string(&mut reply).unwrap();
            assert!(reply.contains("\"result\":\"status\""), "{reply}");
            answered += 1;
        }
    }
    let elapsed = began.elapsed();
    let reply = garbage.join().unwrap();
    assert!(reply.contains("larger than"), "10 MB of garbage: {reply:?}");

    let mut reply = String::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    silent.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("timed out"), "half a frame: {reply:?}");

    assert_eq!(project.instance("web", 0)["state"], "online");
    let rss_after = rss_kib(daemon);
    eprintln!(
        "FIGURE control-flood: {answered} parallel status requests in {:.0} ms, 10 MB garbage refused, half frame cut off; daemon RSS {rss_before} -> {rss_after} KiB",
        elapsed.as_secs_f64() * 1000.0
    );
    assert!(
        rss_after < rss_before + 8192,
        "daemon RSS grew from {rss_before} to {rss_after} KiB"
    );
}
