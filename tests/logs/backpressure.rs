//! Back-pressure: a child producing output faster than the writer can format and write it makes
//! the daemon's readers wait (and the child's writes block); the daemon's memory stays bounded
//! and nothing is dropped. A flooding child's pipe grows, so that it does not block between the
//! daemon's reads.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{LONG_PATIENCE, holds_within, wait_until_within};

use harness::Project;
use logs::{numbered_files, read_file, records};

/// The daemon's peak resident memory, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_flood_of_output_is_written_whole_with_bounded_memory() {
    // 100,000 lines of 1,000 bytes (100 MB) as fast as `yes` can, then `done` on stderr.
    let project = Project::new(
        r#"
[logs]
max_size = "10MiB"
keep = 20
compress = false

[programs.flood]
command = ["sh", "-c", "yes \"$(head -c 1000 /dev/zero | tr '\\0' x)\" | head -n 100000; echo done >&2; exec sleep 600"]
"#,
    );
    project.start();
    let daemon = project.daemon_pid().expect("daemon pid");
    let logs = project.path("logs");
    wait_until_within("the flood to finish", LONG_PATIENCE, || {
        records(&logs, "error.log")
            .iter()
            .any(|r| r["msg"] == "done")
    });
    let line = format!("\"msg\":\"{}\"", "x".repeat(1000));
    let mut count = 0;
    let complete = holds_within(LONG_PATIENCE, || {
        count = numbered_files(&logs, "app.log")
            .iter()
            .map(|(_, path)| {
                let text = read_file(path);
                String::from_utf8_lossy(&text)
                    .matches(line.as_str())
                    .count()
            })
            .sum::<usize>();
        count == 100_000
    });
    assert!(complete, "{count} of 100000 lines were written");
    let peak = peak_rss_kib(daemon);
    assert!(
        peak < 48 * 1024,
        "the daemon's memory grew with the flood: peak {peak} KiB for 100 MB of output"
    );
    let status = project.instance("flood", 0);
    assert_eq!(status["log_lines_dropped"], 0);
    // The flooded pipe grew so the child would not block between reads; the quiet one did not.
    let child = harness::pid_of(&status);
    assert_eq!(pipe_size(child, 1), 1024 * 1024, "stdout, which flooded");
    assert_eq!(pipe_size(child, 2), 256 * 1024, "stderr, one line");
}

/// The capacity of the pipe that is descriptor `fd` of process `pid`.
fn pipe_size(pid: i32, fd: i32) -> i32 {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // Opening a pipe through /proc opens the same pipe; reading nothing from it takes nothing.
    let pipe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/{pid}/fd/{fd}"))
        .unwrap();
    // SAFETY: F_GETPIPE_SZ only reads the capacity of the pipe this function holds open.
    unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_GETPIPE_SZ) }
}
