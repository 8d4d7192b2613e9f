//! `user` and `group` of a program: the account its processes run as.
//!
//! Resolved when the config is loaded, against the ids of the process loading it (the daemon, or
//! `svc config check` run by the same account): a root daemon may run a program as any account;
//! any other daemon only as itself, because it has no right to change its ids. Refusing that at
//! load time names the key, where a failed `setuid` at start would only name the program.

use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User};
use serde::Serialize;

/// The account a program runs as (`user`, `group` in svc.toml), resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    /// `group`, else the user's primary group (for a non-root daemon: its own group).
    pub group: String,
    pub gid: u32,
    /// The user's home folder, the program's `$HOME` unless its env sets one.
    #[serde(skip)]
    pub home: PathBuf,
}

/// The ids the programs would be started with: those of the process loading the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loader {
    pub uid: u32,
    pub gid: u32,
}

impl Loader {
    /// A root daemon, which may run programs as anyone.
    pub const ROOT: Loader = Loader { uid: 0, gid: 0 };

    /// This process's effective ids.
    pub fn current() -> Loader {
        Loader {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    fn is_root(self) -> bool {
        self.uid == 0
    }
}

/// Which key a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    User,
    Group,
}

/// Why `user` or `group` cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunAsError {
    #[error("no user {name:?} on this system")]
    NoUser { name: String },
    #[error("cannot look up user {name:?}: {source}")]
    LookUpUser {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error(
        "cannot run as {name:?} (uid {uid}): the daemon runs as uid {daemon_uid}, not as root, so \
         its programs can only run as itself; remove `user` or run the daemon as root"
    )]
    NotTheDaemonsUser {
        name: String,
        uid: u32,
        daemon_uid: u32,
    },
    #[error("no group {name:?} on this system")]
    NoGroup { name: String },
    #[error("cannot look up group {name:?}: {source}")]
    LookUpGroup {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error(
        "cannot run with group {name:?} (gid {gid}): the daemon runs with gid {daemon_gid}, not \
         as root; remove `group` or run the daemon as root"
    )]
    NotTheDaemonsGroup {
        name: String,
        gid: u32,
        daemon_gid: u32,
    },
}

impl RunAsError {
    /// The key at fault.
    pub(super) fn key(&self) -> Key {
        match self {
            RunAsError::NoUser { .. }
            | RunAsError::LookUpUser { .. }
            | RunAsError::NotTheDaemonsUser { .. } => Key::User,
            RunAsError::NoGroup { .. }
            | RunAsError::LookUpGroup { .. }
            | RunAsError::NotTheDaemonsGroup { .. } => Key::Group,
        }
    }
}

/// Resolves `user` (and `group`, else the user's primary group) for a daemon running as `loader`.
///
/// # Errors
/// [`RunAsError`]: an unknown user or group, or (for a daemon that is not root) an account other
/// than the daemon's own.
pub(super) fn resolve(
    user: &str,
    group: Option<&str>,
    loader: Loader,
) -> Result<RunAs, RunAsError> {
    let account = lookup_user(user)?;
    let uid = account.uid.as_raw();
    if !loader.is_root() && uid != loader.uid {
        return Err(RunAsError::NotTheDaemonsUser {
            name: user.to_owned(),
            uid,
            daemon_uid: loader.uid,
        });
    }
    let (group, gid) = match group {
        Some(name) => {
            let found = lookup_group(name)?;
            (found.name, found.gid.as_raw())
        }
        // A non-root daemon cannot change its group: the program gets the daemon's.
        None if !loader.is_root() => (group_name(loader.gid), loader.gid),
        None => (group_name(account.gid.as_raw()), account.gid.as_raw()),
    };
    if !loader.is_root() && gid != loader.gid {
        return Err(RunAsError::NotTheDaemonsGroup {
            name: group,
            gid,
            daemon_gid: loader.gid,
        });
    }
    Ok(RunAs {
        user: account.name,
        uid,
        group,
        gid,
        home: account.dir,
    })
}

/// A user by name, or by number when no user has that name (as systemd's `User=` accepts).
fn lookup_user(name: &str) -> Result<User, RunAsError> {
    let found = match User::from_name(name) {
        Ok(None) => match name.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => Ok(None),
        },
        other => other,
    };
    match found {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(RunAsError::NoUser {
            name: name.to_owned(),
        }),
        Err(source) => Err(RunAsError::LookUpUser {
            name: name.to_owned(),
            source,
        }),
    }
}

/// A group by name, or by number when no group has that name.
fn lookup_group(name: &str) -> Result<Group, RunAsError> {
    let found = match Group::from_name(name) {
        Ok(None) => match name.parse::<u32>() {
            Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
            Err(_) => Ok(None),
        },
        other => other,
    };
    match found {
        Ok(Some(group)) => Ok(group),
        Ok(None) => Err(RunAsError::NoGroup {
            name: name.to_owned(),
        }),
        Err(source) => Err(RunAsError::LookUpGroup {
            name: name.to_owned(),
            source,
        }),
    }
}

/// The name of `gid`, or the number when it has none.
fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: Loader = Loader::ROOT;

    #[test]
    fn a_root_daemon_may_run_a_program_as_another_user() {
        let run_as = resolve("nobody", None, ROOT).expect("nobody exists");
        assert_eq!(run_as.user, "nobody");
        assert_eq!(run_as.uid, 65534);
        let primary = User::from_name("nobody").unwrap().unwrap().gid.as_raw();
        assert_eq!(run_as.gid, primary);
        let with_group = resolve("nobody", Some("0"), ROOT).unwrap();
        assert_eq!((with_group.gid, with_group.group.as_str()), (0, "root"));
        assert_eq!(resolve("65534", None, ROOT).unwrap().user, "nobody");
    }

    /// The key at fault and the message of a refused account.
    fn refusal(result: Result<RunAs, RunAsError>) -> (Key, String) {
        let error = result.expect_err("the account is refused");
        (error.key(), error.to_string())
    }

    #[test]
    fn a_daemon_that_is_not_root_refuses_any_account_but_its_own() {
        let daemon = Loader {
            uid: 4321,
            gid: 4321,
        };
        let (key, message) = refusal(resolve("nobody", None, daemon));
        assert_eq!(key, Key::User);
        assert!(message.contains("uid 4321, not as root"), "{message}");

        // Its own account is fine, and keeps its own group...
        let me = Loader {
            uid: 65534,
            gid: 4321,
        };
        let run_as = resolve("nobody", None, me).unwrap();
        assert_eq!((run_as.uid, run_as.gid), (65534, 4321));
        // ... which it cannot change either.
        let (key, message) = refusal(resolve("nobody", Some("root"), me));
        assert_eq!(key, Key::Group);
        assert!(message.contains("gid 4321, not as root"), "{message}");
    }

    #[test]
    fn unknown_accounts_are_refused() {
        let (key, message) = refusal(resolve("no-such-user-here", None, ROOT));
        assert_eq!(key, Key::User);
        assert!(
            message.contains("no user \"no-such-user-here\""),
            "{message}"
        );
        let (key, _) = refusal(resolve("nobody", Some("no-such-group-here"), ROOT));
        assert_eq!(key, Key::Group);
    }
}
