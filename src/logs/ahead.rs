//! The next file of a rotating log, made ahead on a thread of its own.
//!
//! Creating a file costs the file system a new inode, and ext4 without a journal skips every
//! inode freed in the last minutes, reading inode tables to tell: in a profile of a flood
//! rotating at 1 MiB, finding inodes (for the files and the moved link) was a third of the
//! daemon's samples, and creating a file cost the writer ~0.2 ms under `strace`. A log that
//! rotates orders its next file each time it starts one; the file is made without a
//! name (`O_TMPFILE`: nothing is left behind when the daemon stops or dies) and named when the
//! rotation comes ([`crate::secure_fs::give_name`], which never replaces a file). When it is
//! not ready yet, or cannot be named, the rotation creates the file itself as before.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::secure_fs::{self, FileRule};

/// Where a file made ahead waits for its log.
type Slot = Arc<Mutex<Option<File>>>;

/// One order: make a file in `dir` with `rule` and put it in `slot`.
struct Order {
    slot: Slot,
    dir: PathBuf,
    rule: FileRule,
}

/// Makes the logs' next files on its own thread.
#[derive(Clone)]
pub struct Maker {
    tx: mpsc::Sender<Order>,
}

impl Maker {
    /// Starts the thread; it ends when every [`Maker`] and [`Ahead`] is dropped.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start() -> io::Result<(Maker, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Order>();
        let thread = std::thread::Builder::new()
            .name("svc-log-files".into())
            .spawn(move || {
                for order in rx {
                    // Made outside the lock: the writer taking the slot never waits for it.
                    if lock(&order.slot).is_some() {
                        continue;
                    }
                    match secure_fs::new_unnamed(&order.dir, &order.rule) {
                        Ok(file) => {
                            lock(&order.slot).get_or_insert(file);
                        }
                        Err(error) => {
                            tracing::debug!(%error, dir = %order.dir.display(), "cannot make a log file ahead; the rotation will")
                        }
                    }
                }
            })?;
        Ok((Maker { tx }, thread))
    }

    /// The next files of one log, made in `dir` with `rule`.
    pub fn for_log(&self, dir: PathBuf, rule: FileRule) -> Ahead {
        Ahead {
            maker: self.clone(),
            slot: Slot::default(),
            dir,
            rule,
        }
    }
}

/// One log's next file, made ahead.
pub struct Ahead {
    maker: Maker,
    slot: Slot,
    dir: PathBuf,
    rule: FileRule,
}

impl Ahead {
    /// Asks for the next file (nothing happens when one is waiting).
    pub fn order(&self) {
        let _ = self.maker.tx.send(Order {
            slot: self.slot.clone(),
            dir: self.dir.clone(),
            rule: self.rule,
        });
    }

    /// The file made ahead, when it is ready: open to append, empty, with no name yet.
    pub fn take(&self) -> Option<File> {
        lock(&self.slot).take()
    }
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<File>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}
