//! Private files and folders: the checks svc makes before it writes where its configuration
//! points it.
//!
//! svc often runs as root and writes into folders an operator names (`state_dir`, `log_dir`,
//! `DATA_DIR`). If another user can write to such a folder, they can put a symlink or a hard link
//! where svc is about to append, cut or rotate a file, and turn root's writes onto a file of their
//! choosing. So:
//!
//! - A folder is checked where it is made or first used ([`prepare_dir`]): a symlink is refused
//!   (unless the rule follows it), and so is a folder of another user; a mode looser than the
//!   rule's is tightened (one log line) or, when the rule says so, refused if group or others may
//!   write to it. Checks and changes go through one handle opened without following links, so
//!   nothing can be swapped in between.
//! - A file svc appends to is opened without following a symlink, created exclusively when new
//!   ([`open_append`], [`create_new`]), and its handle checked with `fstat` before anything is
//!   written, cut or renamed: a regular file of ours with one link. Anything else is a
//!   [`Refusal`]: reported, left alone, never written through.
//! - Every svc process runs with umask 077 ([`restrict_umask`]): what it creates is private
//!   unless it sets a mode on purpose (log files are 0640, for `log_group`).
//!
//! These run when a folder is prepared or a file opened, never per line written.

mod file;
mod folder;

use std::io;
use std::path::Path;

pub use file::{
    FileRule, OpenError, Refusal, Why, check_handle, create_new, give_name, inspect, new_unnamed,
    open_append, open_read, tighten_file,
};
pub use folder::{DirRule, prepare_dir};

/// This process's effective uid: the owner every file and folder svc writes must have.
pub fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Sets this process's umask to 077, so every file and folder it creates is private to its user
/// unless a mode is set on purpose. Processes it starts inherit it.
pub fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// A folder (or a file svc must own) that svc refuses to use: the message names the path and
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(
        "{what} {path} is a symlink; refusing it (a link can be re-pointed to send svc's writes elsewhere): point {what} at the real folder"
    )]
    Symlink { what: &'static str, path: String },
    #[error("{what} {path} is not a folder")]
    NotDir { what: &'static str, path: String },
    #[error(
        "{what} {path} belongs to uid {owner}, not to uid {me} that svc runs as; refusing it: `chown {me} {path}`, or use one of this user's own"
    )]
    NotOwner {
        what: &'static str,
        path: String,
        owner: u32,
        me: u32,
    },
    #[error(
        "{what} {path} is writable by group or others (mode {mode:04o}), so another user could plant links in it; refusing it: `chmod go-w {path}`, and remove what you did not put there"
    )]
    Writable {
        what: &'static str,
        path: String,
        mode: u32,
    },
    #[error(
        "{what} {path}: cannot give it group {gid} ({source}): the daemon's user must belong to log_group"
    )]
    Group {
        what: &'static str,
        path: String,
        gid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> GuardError + 'a {
    move |source| GuardError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The mode an existing file or folder keeps: its own, without bits beyond `allowed`, with the
/// group bits of `allowed` when a group is set for readers. Set-id and sticky bits of a folder
/// stay (a set-group-id folder gives new files its group).
fn fitted(current: u32, allowed: u32, for_group: bool, is_dir: bool) -> u32 {
    let special = if is_dir { current & 0o7000 } else { 0 };
    let group = if for_group { allowed & 0o070 } else { 0 };
    special | (current & allowed & 0o777) | group
}

#[cfg(test)]
mod tests;
