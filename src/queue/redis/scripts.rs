//! The Lua scripts, one per state change, each prepended with the shared helpers of
//! `lua/common.lua` (and `lua/take_next.lua` for the two that take a job) at compile time. `redis::Script` sends them with EVALSHA and loads them
//! again on `NOSCRIPT` (after a Redis restart the script cache is empty).
//!
//! They are our own, written from `shared/design/BULLMQ-PROTOCOL.md`: BullMQ's scripts are tied
//! to argument layouts that change between its versions, ours only to the data layout.

use std::sync::OnceLock;

use redis::Script;

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
