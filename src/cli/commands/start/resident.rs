//! The daemon's resident code: only the pages it keeps running.
//!
//! Most of an idle daemon's RSS is not data but code: the kernel maps the binary's and the
//! libraries' text 64 KiB at a time around each page fault ("fault-around"), and starting up (the
//! command line, the config parser, TOML, opening the logs, forking the programs), a status call
//! or a restart runs code the idle daemon does not need in memory. So [`shed`] drops the pages of
//! every read-only file mapping from this process: once start-up is over ([`SETTLED`]), then
//! after the daemon has done some work, at most once per [`REST`]. What the daemon runs next is
//! faulted back in from the page cache (about a microsecond per 64 KiB); a shed costs reading
//! `/proc/self/smaps` and one `madvise` per mapping, well under a millisecond. Figures:
//! docs/BENCHMARKS.md, "Log capture beside supervisord".
//!
//! Work is seen where the runtime goes idle ([`runtime`]'s park hook); the shed itself runs on a
//! task, so an idle daemon has no timer running and is not woken.
//!
//! Only clean, read-only, file-backed mappings are touched: their pages are the file's bytes, so
//! dropping one loses nothing (a private mapping with copied-on-write pages, such as relocated
//! data made read-only after linking, is left alone).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long after its start the daemon sheds its start-up code: the programs without a
/// readiness check are online after 1 s of uptime.
const SETTLED: Duration = Duration::from_secs(2);

/// The least time between two sheds, so a busy daemon (a log flood, `svc status --watch`) pays
/// for a shed and its page faults at most this often.
const REST: Duration = Duration::from_secs(5);

/// Set by the park hook when the runtime goes idle after some work; taken by [`shedder`].
static WORKED: AtomicBool = AtomicBool::new(false);
/// Set by [`shedder`] before it waits, so the park that follows (its own) is not taken for work.
static OWN_PARK: AtomicBool = AtomicBool::new(false);
static WAKE: OnceLock<Notify> = OnceLock::new();

/// The daemon's runtime: one thread (see docs/ARCHITECTURE.md, "Single thread") whose going idle
/// after some work lets [`shedder`] shed the code that work ran.
///
/// # Errors
/// The runtime cannot be built.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(went_idle)
        .build()
}

/// Sheds the start-up code once the daemon has settled, then the code of each later stretch of
/// work, [`REST`] after the previous shed. Runs until the runtime ends.
pub async fn shedder() {
    let wake = WAKE.get_or_init(Notify::new);
    tokio::time::sleep(SETTLED).await;
    loop {
        shed();
        WORKED.store(false, Ordering::Relaxed);
        OWN_PARK.store(true, Ordering::Relaxed);
        tokio::time::sleep(REST).await;
        OWN_PARK.store(true, Ordering::Relaxed);
        while !WORKED.swap(false, Ordering::Relaxed) {
            wake.notified().await;
        }
    }
}

/// The park hook: the runtime goes idle. Unless it is [`shedder`]'s own park, some work ran
/// since the last one: the shedder is told.
fn went_idle() {
    if OWN_PARK.swap(false, Ordering::Relaxed) {
        return;
    }
    if !WORKED.swap(true, Ordering::Relaxed)
        && let Some(wake) = WAKE.get()
    {
        wake.notify_one();
    }
}

/// Drops this process's clean read-only file pages. Best effort: a mapping that cannot be read
/// or advised is left as it is.
pub fn shed() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_file_mappings(&smaps) {
        let len = end - start;
        // SAFETY: the range is a whole mapping of this process that is read-only, file-backed and
        // has no anonymous (copied) pages: dropping its pages only makes the next access read
        // them again from the file, unchanged. Nothing else is unmapped or changed.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// The address ranges of the mappings in `smaps` that are file-backed, not writable, and hold
/// no anonymous pages.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(range) = mapping_header(line) {
            current = range;
        } else if let Some(kib) = line.strip_prefix("Anonymous:")
            && let Some(range) = current.take()
            && kib.trim() == "0 kB"
        {
            found.push(range);
        }
    }
    found
}

/// A mapping's header line (`start-end perms offset dev inode path`): `Some(Some(range))` for a
/// read-only mapping of a file, `Some(None)` for any other mapping, `None` for a field line.
fn mapping_header(line: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    let path = fields.nth(3);
    let read_only_file =
        perms.starts_with('r') && !perms.contains('w') && path.is_some_and(|p| p.starts_with('/'));
    Some(read_only_file.then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_chosen() {
        let smaps = "\
5600-5700 r--p 00000000 fd:01 42 /usr/bin/svc
Rss: 8 kB
Anonymous: 0 kB
5700-5900 r-xp 00001000 fd:01 42 /usr/bin/svc
Anonymous: 0 kB
5900-5a00 r--p 00300000 fd:01 42 /usr/bin/svc
Anonymous: 4 kB
5a00-5b00 rw-p 00400000 fd:01 42 /usr/bin/svc
Anonymous: 0 kB
5b00-5c00 rw-p 00000000 00:00 0 [heap]
Anonymous: 4 kB
7f00-7f10 r--p 00000000 00:00 0 [vvar]
Anonymous: 0 kB
";
        assert_eq!(
            clean_file_mappings(smaps),
            vec![(0x5600, 0x5700), (0x5700, 0x5900)]
        );
    }
}
