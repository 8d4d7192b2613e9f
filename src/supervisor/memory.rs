//! `max_memory`: how much an instance holds, and when that is a reason to restart it.
//!
//! An instance is the leader of its own process group, and what it forks stays in that group
//! unless it leaves on purpose, so the group's resident memory is the instance's: a program that
//! keeps its memory in workers or in a shell's children is measured whole. One sample above the
//! limit is not enough (a short peak, or a fork whose pages are still shared and counted twice):
//! two in a row are.

use super::procstat;

/// The resident memory of every live process whose process group is `pgid`, in bytes; `None`
/// when no process is left in the group.
pub fn group_rss_bytes(pgid: u32) -> Option<u64> {
    let members = procstat::group_members(pgid);
    if members.is_empty() {
        return None;
    }
    // A member may exit between the listing and its read: it holds nothing any more.
    Some(members.into_iter().filter_map(procstat::rss_bytes).sum())
}

/// Turns memory samples into restart decisions: over the limit twice in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    limit: u64,
    /// Consecutive samples above the limit so far.
    above: u32,
}

impl OverLimit {
    /// Samples needed above the limit, one after the other, before the instance is restarted.
    const SAMPLES: u32 = 2;

    pub fn new(limit: u64) -> OverLimit {
        OverLimit { limit, above: 0 }
    }

    /// Takes one sample (`None`: the group could not be measured, which counts as under the
    /// limit); true when it is the second in a row above the limit, and then starts counting
    /// afresh.
    pub fn check(&mut self, rss: Option<u64>) -> bool {
        match rss {
            Some(bytes) if bytes > self.limit => self.above += 1,
            _ => self.above = 0,
        }
        if self.above >= Self::SAMPLES {
            self.above = 0;
            return true;
        }
        false
    }

    /// Forgets the samples so far (the instance was restarted for another reason).
    pub fn reset(&mut self) {
        self.above = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    #[test]
    fn two_samples_in_a_row_above_the_limit_fire_once() {
        const MIB: u64 = 1 << 20;
        // (samples, what each check answers) for a limit of 100 MiB.
        let table: &[(&[Option<u64>], &[bool])] = &[
            (&[Some(50 * MIB), Some(60 * MIB)], &[false, false]),
            (&[Some(200 * MIB), Some(200 * MIB)], &[false, true]),
            // The limit itself is not above it.
            (&[Some(100 * MIB), Some(100 * MIB)], &[false, false]),
            // A sample under the limit starts the count again.
            (
                &[
                    Some(200 * MIB),
                    Some(50 * MIB),
                    Some(200 * MIB),
                    Some(200 * MIB),
                ],
                &[false, false, false, true],
            ),
            // A group that could not be measured counts as under the limit.
            (
                &[Some(200 * MIB), None, Some(200 * MIB)],
                &[false, false, false],
            ),
            // After firing, two more samples are needed.
            (&[Some(200 * MIB); 5], &[false, true, false, true, false]),
        ];
        for (samples, expected) in table {
            let mut rule = OverLimit::new(100 * MIB);
            let answers: Vec<bool> = samples.iter().map(|s| rule.check(*s)).collect();
            assert_eq!(&answers, expected, "{samples:?}");
        }
    }

    #[test]
    fn reset_forgets_a_sample_above_the_limit() {
        let mut rule = OverLimit::new(10);
        assert!(!rule.check(Some(11)));
        rule.reset();
        assert!(!rule.check(Some(11)));
        assert!(rule.check(Some(11)));
    }

    /// Waits up to 5 s for `condition`.
    fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_process_group_is_measured_whole() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        assert!(
            wait_for(|| procstat::group_members(pgid).len() >= 2),
            "the shell and its background sleep share its group"
        );
        let own = || -> u64 {
            procstat::group_members(pgid)
                .iter()
                .filter_map(|&p| procstat::rss_bytes(p))
                .sum()
        };
        // The background child may still be between fork and exec (its size changing); once
        // both sleep they hold still, within a page or two of drift between the reads.
        assert!(
            wait_for(|| group_rss_bytes(pgid).is_some_and(|m| m.abs_diff(own()) <= 8192)),
            "{:?} vs {}",
            group_rss_bytes(pgid),
            own()
        );
        let measured = group_rss_bytes(pgid).unwrap();
        let leader = procstat::rss_bytes(pgid).unwrap();
        assert!(
            measured > leader,
            "{measured} counts more than the leader's {leader}"
        );

        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        assert!(
            wait_for(|| group_rss_bytes(pgid).is_none()),
            "an empty group has no size"
        );
    }
}
