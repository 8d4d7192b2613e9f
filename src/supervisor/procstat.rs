//! Memory and CPU of a process, read from `/proc` (two small reads per instance per status call).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The fields of `/proc/PID/stat` after the command name, from `state` on (so field N of
/// proc(5) is at index N - 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process group of `pid`, if it is alive (a zombie has ended: it holds no memory).
pub fn process_group(pid: u32) -> Option<u32> {
    let fields = stat_fields(pid)?;
    if matches!(fields.first()?.as_str(), "Z" | "X") {
        return None;
    }
    fields.get(2)?.parse().ok()
}

/// Every live process (not thread) whose process group is `pgid`, by reading `/proc`: the
/// group's leader and whatever it forked that did not leave the group.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| process_group(pid) == Some(pgid))
        .collect()
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |n| n as u64)
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |n| n as f64)
}

/// CPU usage between two status calls; the first call of a pid measures since it started.
#[derive(Default)]
pub struct CpuMeter {
    last: Mutex<HashMap<u32, (Instant, u64)>>,
}

impl CpuMeter {
    /// Percent of one core used by `pid` since the previous call (or since `started`).
    pub fn percent(&self, pid: u32, started: Instant) -> Option<f64> {
        let ticks = cpu_ticks(pid)?;
        let now = Instant::now();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (since, before) = last.insert(pid, (now, ticks)).unwrap_or((started, 0));
        let wall = now.duration_since(since).as_secs_f64();
        if wall <= 0.0 {
            return Some(0.0);
        }
        let used = ticks.saturating_sub(before) as f64 / ticks_per_second();
        Some((used / wall * 1000.0).round() / 10.0)
    }

    /// Forgets pids that are no longer running.
    pub fn retain(&self, live: &[u32]) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        last.retain(|pid, _| live.contains(pid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 100_000);
        assert!(cpu_ticks(me).is_some());
        assert!(rss_bytes(u32::MAX).is_none());
        let group = nix::unistd::getpgrp().as_raw() as u32;
        assert_eq!(process_group(me), Some(group));
        assert!(group_members(group).contains(&me));
        assert_eq!(process_group(u32::MAX), None);
    }
}
