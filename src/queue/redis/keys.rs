//! The key names of one BullMQ queue: `<prefix>:<queue>:<name>` for the queue's structures and
//! `<prefix>:<queue>:<job id>` (plus `:lock`, `:logs` …) for a job, exactly as BullMQ 6.x names
//! them, so Node and svc address the same keys.

use std::borrow::Cow;

use redis::ScriptInvocation;

/// Every fixed key of a queue, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `<prefix>:<queue>:`; per-job keys are this plus the job id.
    pub base: String,
    pub wait: String,
    pub active: String,
    pub paused: String,
    pub prioritized: String,
    pub pc: String,
    pub delayed: String,
    pub completed: String,
    pub failed: String,
    pub marker: String,
    pub stalled: String,
    pub stalled_check: String,
    pub meta: String,
    pub id: String,
    pub events: String,
    pub limiter: String,
}

impl Keys {
    pub fn new(prefix: &str, queue: &str) -> Self {
        let base = format!("{prefix}:{queue}:");
        let key = |name: &str| format!("{base}{name}");
        Keys {
            wait: key("wait"),
            active: key("active"),
            paused: key("paused"),
            prioritized: key("prioritized"),
            pc: key("pc"),
            delayed: key("delayed"),
            completed: key("completed"),
            failed: key("failed"),
            marker: key("marker"),
            stalled: key("stalled"),
            stalled_check: key("stalled-check"),
            meta: key("meta"),
            id: key("id"),
            events: key("events"),
            limiter: key("limiter"),
            base,
        }
    }

    /// The job's hash.
    pub fn job(&self, id: &str) -> String {
        format!("{}{id}", self.base)
    }

    /// The job's lock (a string holding the token, with a TTL).
    pub fn lock(&self, id: &str) -> String {
        format!("{}{id}:lock", self.base)
    }
}

/// A key a Lua script takes in its `KEYS`: one of the queue's fixed keys, or one of the job's the
/// call is about. Each script's order is declared once, in `scripts.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyName {
    Wait,
    Active,
    Paused,
    Prioritized,
    Pc,
    Delayed,
    Completed,
    Failed,
    Marker,
    Stalled,
    StalledCheck,
    Meta,
    Id,
    Events,
    Limiter,
    /// The job's hash ([`Keys::job`]).
    Job,
    /// The job's lock ([`Keys::lock`]).
    Lock,
}

impl Keys {
    /// The key `name` stands for; `job_id` names the job for [`KeyName::Job`] and
    /// [`KeyName::Lock`].
    pub fn resolve(&self, name: KeyName, job_id: &str) -> Cow<'_, str> {
        let fixed = match name {
            KeyName::Wait => &self.wait,
            KeyName::Active => &self.active,
            KeyName::Paused => &self.paused,
            KeyName::Prioritized => &self.prioritized,
            KeyName::Pc => &self.pc,
            KeyName::Delayed => &self.delayed,
            KeyName::Completed => &self.completed,
            KeyName::Failed => &self.failed,
            KeyName::Marker => &self.marker,
            KeyName::Stalled => &self.stalled,
            KeyName::StalledCheck => &self.stalled_check,
            KeyName::Meta => &self.meta,
            KeyName::Id => &self.id,
            KeyName::Events => &self.events,
            KeyName::Limiter => &self.limiter,
            KeyName::Job => return Cow::Owned(self.job(job_id)),
            KeyName::Lock => return Cow::Owned(self.lock(job_id)),
        };
        Cow::Borrowed(fixed)
    }

    /// Adds the keys `names` (a script's `KEYS`, in order) to `call`, for job `job_id`.
    pub fn fill<'c, 's>(
        &self,
        call: &'c mut ScriptInvocation<'s>,
        names: &[KeyName],
        job_id: &str,
    ) -> &'c mut ScriptInvocation<'s> {
        for name in names {
            call.key(self.resolve(*name, job_id).as_ref());
        }
        call
    }
}

/// Standard base64 with padding: Node names a worker's blocking connection
/// `<prefix>:<base64(queue)>:w:<name>`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_bullmq_names() {
        let keys = Keys::new("bull", "email-queue");
        assert_eq!(keys.wait, "bull:email-queue:wait");
        assert_eq!(keys.stalled_check, "bull:email-queue:stalled-check");
        assert_eq!(keys.job("42"), "bull:email-queue:42");
        assert_eq!(keys.lock("welcome-1"), "bull:email-queue:welcome-1:lock");
    }

    #[test]
    fn base64_matches_node() {
        assert_eq!(base64(b"email-queue"), "ZW1haWwtcXVldWU=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }
}
