//! `watch`: restart a program when files it runs from change.
//!
//! One inotify watcher per program (notify's recommended watcher: events, no polling) feeds a
//! task that turns a burst of events into one message, sent `watch_delay` after the burst's
//! last event: an editor's save (a temporary file written, then renamed over the original), a
//! `git checkout` or a build touching hundreds of files is one restart, not hundreds. Reads
//! (open, read, close without writing) are no change. Paths the program or the daemon write
//! themselves are ignored, else a program that logs or stores data under a watched folder would
//! restart itself forever: `.git`, `node_modules` and `target` anywhere, the daemon's log and
//! state folders, the program's `DATA_DIR`, and the program's `watch_ignore` globs.
//!
//! The ignored folders are not even watched: the tree is walked and each other folder gets its
//! own watch (a folder made later gets one when it appears), where a recursive watch would put
//! one on every folder of a `target/` or `node_modules/`, tens of thousands, against the
//! kernel's per-user limit. The folder around each watched folder is watched too (its other
//! entries pruned), so a watched folder replaced whole is seen coming back.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::{Config, Globs, Program};

/// Folders of these names hold tools' and builds' churn, never a program's source.
const IGNORED_NAMES: [&str; 3] = [".git", "node_modules", "target"];

/// Bursts waiting to be taken; more are pointless (each is one restart).
const BURSTS: usize = 4;

type SharedWatcher = Arc<Mutex<notify::RecommendedWatcher>>;

/// A running watch; dropping it stops watching.
pub struct ProgramWatch {
    /// Owns the inotify descriptor and its thread; its event callback feeds `debounce`.
    _watcher: SharedWatcher,
    debounce: tokio::task::JoinHandle<()>,
}

impl Drop for ProgramWatch {
    fn drop(&mut self) {
        self.debounce.abort();
    }
}

/// What the watcher's callback saw.
enum Seen {
    /// A change that counts: its first path.
    Change(PathBuf),
    /// A folder that appeared (made, or moved in) and needs watches of its own.
    Folder(PathBuf),
}

/// Starts watching `program`'s `watch` paths (inside a tokio runtime). Each message on the
/// receiver is one burst of changes: its first changed path, sent once no change has come for
/// `watch_delay`. Changes under `ignored_dirs` (see [`ignored_dirs`]) do not count.
///
/// # Errors
/// The program has no `watch`, or a path cannot be watched (it does not exist, or the inotify
/// limits are reached), named in the error.
pub fn start(
    program: &Program,
    ignored_dirs: &[PathBuf],
) -> anyhow::Result<(ProgramWatch, mpsc::Receiver<PathBuf>)> {
    let watch = program
        .watch
        .as_ref()
        .with_context(|| format!("program {} has no `watch`", program.name))?;
    let filter = Arc::new(Filter {
        cwd: program.cwd.clone(),
        roots: watch.paths.clone(),
        ignore: watch.ignore.clone(),
        ignored_dirs: ignored_dirs.to_vec(),
    });
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let callback_filter = Arc::clone(&filter);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // The receiver is gone only when the watch is being dropped.
            for seen in callback_filter.classify(&event) {
                let _ = seen_tx.send(seen);
            }
        }
    })
    .context("cannot start a file watcher")?;
    for path in &watch.paths {
        watch_tree(&mut watcher, &filter, path)
            .with_context(|| format!("cannot watch {}", path.display()))?;
        watch_around(&mut watcher, path);
    }
    let watcher = Arc::new(Mutex::new(watcher));
    let (bursts_tx, bursts) = mpsc::channel(BURSTS);
    let debounce = tokio::spawn(debounce(
        seen,
        bursts_tx,
        watch.delay,
        Arc::clone(&watcher),
        filter,
    ));
    Ok((
        ProgramWatch {
            _watcher: watcher,
            debounce,
        },
        bursts,
    ))
}

/// Sends the first path of each burst once `delay` has passed without another change, and
/// watches the folders that appear.
async fn debounce(
    mut seen: mpsc::UnboundedReceiver<Seen>,
    bursts: mpsc::Sender<PathBuf>,
    delay: Duration,
    watcher: SharedWatcher,
    filter: Arc<Filter>,
) {
    let mut first: Option<PathBuf> = None;
    loop {
        let next = match first {
            None => seen.recv().await,
            Some(_) => match tokio::time::timeout(delay, seen.recv()).await {
                Ok(next) => next,
                Err(_quiet) => {
                    let Some(path) = first.take() else { continue };
                    if bursts.send(path).await.is_err() {
                        return;
                    }
                    continue;
                }
            },
        };
        match next {
            None => return,
            Some(Seen::Change(path)) => {
                first.get_or_insert(path);
            }
            Some(Seen::Folder(folder)) => {
                let (watcher, filter) = (Arc::clone(&watcher), Arc::clone(&filter));
                // Adding a watch waits for notify's thread; a large new tree takes a while.
                tokio::task::spawn_blocking(move || {
                    let mut watcher = watcher.lock().unwrap_or_else(PoisonError::into_inner);
                    // Gone again, or unreadable: there is nothing in it to watch.
                    let _ = watch_tree(&mut watcher, &filter, &folder);
                });
            }
        }
    }
}

/// Watches `path`: a folder and every folder below it that is not pruned, each on its own; a
/// file through its folder. Errors below `path` (a folder removed meanwhile, or unreadable)
/// skip that folder, except the kernel's watch limit.
fn watch_tree(
    watcher: &mut notify::RecommendedWatcher,
    filter: &Filter,
    path: &Path,
) -> notify::Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| notify::Error::io(e).add_path(path.into()))?;
    if !meta.is_dir() {
        // An editor that saves by renaming a new file over the old one replaces it, and a
        // watch on the file itself would end with the old one; the folder's watch goes on (and
        // the filter keeps only this file of it).
        let folder = path.parent().unwrap_or(Path::new("/"));
        return watcher.watch(folder, RecursiveMode::NonRecursive);
    }
    watcher.watch(path, RecursiveMode::NonRecursive)?;
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let child = entry.path();
            // `file_type` does not follow symlinks: a link to a folder is not walked into.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) || filter.prunes(&child) {
                continue;
            }
            match watcher.watch(&child, RecursiveMode::NonRecursive) {
                Ok(()) => folders.push(child),
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => return Err(e),
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// Watches the folder around a watched folder, so that one deleted and made anew, or renamed
/// into its place (a checkout, a build), is seen coming back and watched again: a watch ends
/// with the folder it was on. The other entries there do not count (the filter prunes them).
/// Best effort: without it, only that case is missed.
fn watch_around(watcher: &mut notify::RecommendedWatcher, path: &Path) {
    if let Some(parent) = path.parent().filter(|_| path.is_dir()) {
        let _ = watcher.watch(parent, RecursiveMode::NonRecursive);
    }
}

/// The folders whose changes never restart `program`: the daemon's log and state folders and
/// the program's `DATA_DIR` (as it resolves it: its env's, else `data` for this binary's
/// programs, against its `cwd`).
pub fn ignored_dirs(config: &Config, program: &Program) -> Vec<PathBuf> {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    [config.log_dir.clone(), config.state_dir.clone()]
        .into_iter()
        .chain(program.data_dir(&exe))
        .collect()
}

/// Which events count as a change, and which paths are ignored.
struct Filter {
    cwd: PathBuf,
    /// The watched paths.
    roots: Vec<PathBuf>,
    ignore: Globs,
    ignored_dirs: Vec<PathBuf>,
}

impl Filter {
    /// What `event` means here: the first path that counts as a change (none for a read or
    /// for ignored paths only), and the folders that appeared.
    fn classify(&self, event: &notify::Event) -> Vec<Seen> {
        let mut seen = Vec::new();
        if let Some(path) = self.first_change(event) {
            seen.push(Seen::Change(path));
        }
        if matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
        ) {
            seen.extend(
                event
                    .paths
                    .iter()
                    .filter(|path| !self.prunes(path) && path.is_dir())
                    .map(|path| Seen::Folder(path.clone())),
            );
        }
        seen
    }

    fn first_change(&self, event: &notify::Event) -> Option<PathBuf> {
        match event.kind {
            // Opens, reads and closes: nothing changed.
            EventKind::Access(_) => return None,
            // The kernel dropped events (queue overflow): something changed, say where.
            _ if event.need_rescan() => return self.roots.first().cloned(),
            // Writes, renames, attribute changes, creations and removals.
            _ => {}
        }
        event.paths.iter().find(|path| !self.ignored(path)).cloned()
    }

    /// A folder neither watched nor walked into: a tool's folder below a watched path, one of
    /// the ignored folders, or a path outside the watched ones (a sibling of a watched file).
    fn prunes(&self, path: &Path) -> bool {
        if !self.roots.iter().any(|root| path.starts_with(root))
            || self.ignored_dirs.iter().any(|dir| path.starts_with(dir))
        {
            return true;
        }
        // Tool folders count below the watched path, so watching a folder that is itself
        // inside one (a `target/` of another project, say) still works.
        self.below_root(path)
            .components()
            .any(|c| IGNORED_NAMES.iter().any(|name| c.as_os_str() == *name))
    }

    fn ignored(&self, path: &Path) -> bool {
        if self.prunes(path) {
            return true;
        }
        let relative = path
            .strip_prefix(&self.cwd)
            .unwrap_or_else(|_| self.below_root(path));
        self.ignore.is_match(relative)
    }

    /// `path` relative to the watched path it is under.
    fn below_root<'p>(&self, path: &'p Path) -> &'p Path {
        self.roots
            .iter()
            .find_map(|root| path.strip_prefix(root).ok())
            .unwrap_or(path)
    }
}

#[cfg(test)]
mod tests;
