//! Orphans: processes re-parented to the daemon (a child subreaper) after their own parent died,
//! e.g. a grandchild that left its process group. At shutdown they are terminated, so nothing the
//! daemon started outlives it.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Pids of the daemon's direct children, from `/proc/self/task/*/children`.
pub fn children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// SIGTERM to every remaining child, SIGKILL to those still there after `grace`.
/// The reaper collects them as they exit.
pub async fn terminate_all(grace: Duration) {
    let pids = children();
    if pids.is_empty() {
        return;
    }
    tracing::info!(count = pids.len(), "terminating orphaned processes");
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    while !children().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for pid in children() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}
