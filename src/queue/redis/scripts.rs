//! The Lua scripts, one per state change, each prepended with the shared helpers of
//! `lua/common.lua` (and `lua/take_next.lua` for the two that take a job) at compile time.
//! `redis::Script` sends them with EVALSHA and loads them again on `NOSCRIPT` (after a Redis
//! restart the script cache is empty). Each script's `KEYS`, in the order its Lua reads them,
//! are declared once here (`…_KEYS`) and filled in by [`Keys::fill`](super::Keys::fill).
//!
//! They are our own, written from BullMQ's data layout (`docs/QUEUE-REDIS.md`): BullMQ's scripts
//! are tied to argument layouts that change between its versions, ours only to the data layout.

use std::sync::OnceLock;

use redis::Script;

use super::keys::KeyName::{self, *};

/// `KEYS` of `lua/add.lua`.
pub const ADD_KEYS: &[KeyName] = &[Meta, Id, Events, Wait, Prioritized, Delayed, Marker, Pc];
/// `KEYS` of `lua/take.lua`.
pub const TAKE_KEYS: &[KeyName] = &[
    Wait,
    Active,
    Prioritized,
    Events,
    Delayed,
    Meta,
    Pc,
    Marker,
    Limiter,
];
/// `KEYS` of `lua/extend_lock.lua`.
pub const EXTEND_LOCK_KEYS: &[KeyName] = &[Lock, Stalled];
/// `KEYS` of `lua/complete.lua`.
pub const COMPLETE_KEYS: &[KeyName] = &[
    Active,
    Completed,
    Events,
    Stalled,
    Wait,
    Prioritized,
    Meta,
    Job,
    Delayed,
    Pc,
    Marker,
    Limiter,
];
/// `KEYS` of `lua/retry.lua`.
pub const RETRY_KEYS: &[KeyName] = &[
    Active,
    Delayed,
    Events,
    Stalled,
    Wait,
    Prioritized,
    Meta,
    Marker,
    Pc,
    Job,
];
/// `KEYS` of `lua/fail.lua`.
pub const FAIL_KEYS: &[KeyName] = &[
    Active,
    Failed,
    Events,
    Stalled,
    Wait,
    Prioritized,
    Meta,
    Job,
];
/// `KEYS` of `lua/release.lua`.
pub const RELEASE_KEYS: &[KeyName] = &[Active, Wait, Events, Stalled, Meta, Marker, Job];
/// `KEYS` of `lua/stalled.lua`.
pub const STALLED_KEYS: &[KeyName] = &[Stalled, Wait, Active, StalledCheck, Events, Marker, Meta];
/// `KEYS` of `lua/retry_failed.lua`.
pub const RETRY_FAILED_KEYS: &[KeyName] = &[Failed, Wait, Prioritized, Pc, Events, Meta, Marker];
/// `KEYS` of `lua/job.lua`.
pub const JOB_KEYS: &[KeyName] = &[
    Job,
    Completed,
    Failed,
    Delayed,
    Prioritized,
    Active,
    Wait,
    Paused,
];
/// `KEYS` of `lua/retry_job.lua`.
pub const RETRY_JOB_KEYS: &[KeyName] = &[
    Job,
    Failed,
    Completed,
    Wait,
    Prioritized,
    Pc,
    Events,
    Meta,
    Marker,
];
/// `KEYS` of `lua/remove.lua`.
pub const REMOVE_KEYS: &[KeyName] = &[
    Job,
    Active,
    Wait,
    Paused,
    Prioritized,
    Delayed,
    Completed,
    Failed,
    Stalled,
    Events,
    Meta,
];
/// `KEYS` of `lua/pause.lua`.
pub const PAUSE_KEYS: &[KeyName] = &[Paused, Wait, Meta, Prioritized, Events, Delayed, Marker];

/// `KEYS` of `lua/clean.lua`: the cleaned state's list or sorted set first.
pub fn clean_keys(state_set: KeyName) -> [KeyName; 3] {
    [state_set, Events, Meta]
}

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("lua/common.lua"), include_str!($file))
    };
    ($file:literal, with take_next) => {
        concat!(
            include_str!("lua/common.lua"),
            include_str!("lua/take_next.lua"),
            include_str!($file)
        )
    };
}

/// Every script, loaded once per process.
pub struct Scripts {
    pub add: Script,
    pub take: Script,
    pub extend_lock: Script,
    pub complete: Script,
    pub retry: Script,
    pub fail: Script,
    pub release: Script,
    pub stalled: Script,
    pub retry_failed: Script,
    pub job: Script,
    pub retry_job: Script,
    pub remove: Script,
    pub clean: Script,
    pub pause: Script,
}

/// The scripts (hashed on first use).
pub fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        add: Script::new(script!("lua/add.lua")),
        take: Script::new(script!("lua/take.lua", with take_next)),
        extend_lock: Script::new(script!("lua/extend_lock.lua")),
        complete: Script::new(script!("lua/complete.lua", with take_next)),
        retry: Script::new(script!("lua/retry.lua")),
        fail: Script::new(script!("lua/fail.lua")),
        release: Script::new(script!("lua/release.lua")),
        stalled: Script::new(script!("lua/stalled.lua")),
        retry_failed: Script::new(script!("lua/retry_failed.lua")),
        job: Script::new(script!("lua/job.lua")),
        retry_job: Script::new(script!("lua/retry_job.lua")),
        remove: Script::new(script!("lua/remove.lua")),
        clean: Script::new(script!("lua/clean.lua")),
        pause: Script::new(script!("lua/pause.lua")),
    })
}

#[cfg(test)]
mod tests;
