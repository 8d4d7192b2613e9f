//! Where a job is, with BullMQ's state names, and how many jobs each state holds.

use serde::{Deserialize, Serialize};

use super::{InvalidReason, QueueError};

/// Where a job is, with BullMQ's state names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Waiting,
    Prioritized,
    Delayed,
    Active,
    Completed,
    Failed,
}

impl JobState {
    /// Every state, in the order `svc queue status` shows them.
    pub const ALL: [JobState; 6] = [
        JobState::Waiting,
        JobState::Prioritized,
        JobState::Delayed,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
    ];

    /// BullMQ's name of the state.
    pub const fn name(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Prioritized => "prioritized",
            JobState::Delayed => "delayed",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    /// The names of `states`, in their order: a command line's choices of states.
    pub const fn names<const N: usize>(states: [JobState; N]) -> [&'static str; N] {
        let mut names = [""; N];
        let mut i = 0;
        while i < N {
            names[i] = states[i].name();
            i += 1;
        }
        names
    }

    /// Whether a job in this state has finished (its age counts from `finished_on`).
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for JobState {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.name() == text)
            .ok_or_else(|| InvalidReason::UnknownState(text.to_owned()).into())
    }
}

/// Jobs per state, as BullMQ's `getJobCounts` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
    pub prioritized: u64,
    pub completed: u64,
    pub failed: u64,
}

impl JobCounts {
    /// How many jobs are in `state`.
    pub fn of(&self, state: JobState) -> u64 {
        match state {
            JobState::Waiting => self.waiting,
            JobState::Prioritized => self.prioritized,
            JobState::Delayed => self.delayed,
            JobState::Active => self.active,
            JobState::Completed => self.completed,
            JobState::Failed => self.failed,
        }
    }

    /// Every state with its count, in the order of [`JobState::ALL`].
    pub fn by_state(&self) -> [(JobState, u64); 6] {
        JobState::ALL.map(|state| (state, self.of(state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn state_names_are_bullmqs_both_ways() {
        for state in JobState::ALL {
            assert_eq!(state.name().parse::<JobState>().ok(), Some(state));
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(Value::String(state.name().into()))
            );
        }
        assert!("paused".parse::<JobState>().is_err());
        assert!(JobState::Failed.is_finished() && !JobState::Delayed.is_finished());
    }
}
