//! Forking one program instance: its own process group, a parent-death signal, piped output,
//! and, for a root daemon, the program's own account (`user`, `group`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid};

use crate::config::{Program, RunAs};

/// A running child, as the instance actor holds it.
pub struct Child {
    pub pid: u32,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// What a child needs to know about where it runs.
pub struct Placement<'a> {
    pub instance: u32,
    /// `$NOTIFY_SOCKET` for programs that report readiness.
    pub notify_socket: Option<&'a str>,
    /// The program's shared listening socket (`listen` in svc.toml), passed as fd 3.
    pub listener: Option<&'a OwnedFd>,
}

/// Where a passed listening socket lands in the child, as in systemd's socket activation.
pub const LISTEN_FD: RawFd = 3;

/// The account the daemon switches `program`'s processes to: its `user` when the daemon is root.
/// A daemon that is not root runs every program as itself (config loading refused any other
/// `user`), so it switches nothing.
pub fn switches_to(program: &Program) -> Option<&RunAs> {
    program
        .run_as
        .as_ref()
        .filter(|_| nix::unistd::geteuid().is_root())
}

/// Forks and execs one instance of `program`.
///
/// The child leads its own process group (so a stop reaches its grandchildren), gets SIGTERM if
/// the daemon dies (`PR_SET_PDEATHSIG`; the daemon forks only from its single runtime thread, the
/// thread that lives as long as the daemon), and starts with stdin on /dev/null. Under a root
/// daemon, a program with a `user` runs as that user (see [`Credentials`]); its output pipes and
/// its listening socket are descriptors, which a change of ids does not touch.
///
/// # Errors
/// Fails when the program cannot be executed (not found, not executable, bad cwd, or not
/// reachable by its user).
pub fn spawn(program: &Program, placement: &Placement<'_>) -> std::io::Result<Child> {
    let credentials = switches_to(program).map(Credentials::of).transpose()?;
    let mut command = Command::new(&program.command[0]);
    command.args(&program.command[1..]);
    if let Some(run_as) = switches_to(program) {
        // What a login would set, as systemd's `User=` does; the program's env still wins.
        for (name, value) in [
            ("HOME", run_as.home.as_os_str()),
            ("USER", run_as.user.as_ref()),
            ("LOGNAME", run_as.user.as_ref()),
        ] {
            command.env(name, value);
        }
    } else {
        command.current_dir(&program.cwd);
    }
    command
        .envs(&program.env)
        .env("SVC_PROGRAM", &program.name)
        .env("SVC_INSTANCE", placement.instance.to_string())
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(socket) = placement.notify_socket {
        command.env("NOTIFY_SOCKET", socket);
    }
    command.env_remove("LISTEN_FDS").env_remove("LISTEN_PID");
    let listener = placement.listener.map(AsRawFd::as_raw_fd);
    if listener.is_some() {
        command
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDNAMES", &program.name);
    }
    let daemon = nix::unistd::getpid();
    let cwd = CString::new(program.cwd.as_os_str().as_bytes())?;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (setgroups, setgid, setuid, chdir, prctl, getppid, dup2, fcntl, _exit); what
    // it needs was allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            if let Some(credentials) = &credentials {
                credentials.assume(&cwd)?;
            }
            // After the switch: a change of ids clears the parent-death signal.
            die_with_parent(daemon)?;
            if let Some(fd) = listener {
                pass_listener(fd)?;
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| match switches_to(program) {
        Some(run_as) => std::io::Error::new(
            e.kind(),
            format!(
                "{e} (running as user {}: may it enter {} and execute the command?)",
                run_as.user,
                program.cwd.display()
            ),
        ),
        None => e,
    })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("child pipes missing"));
    };
    Ok(Child {
        pid: child.id(),
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

/// The ids a child switches to, resolved before the fork: looking up the supplementary groups
/// reads `/etc/group` (or NSS), which is not safe between fork and exec.
struct Credentials {
    uid: Uid,
    gid: Gid,
    /// The user's groups, as `initgroups` would set them (the primary `gid` among them).
    groups: Vec<Gid>,
}

impl Credentials {
    /// The ids of `run_as`, with its supplementary groups read now, so a change to
    /// `/etc/group` takes effect at the next start, as with a login.
    fn of(run_as: &RunAs) -> std::io::Result<Credentials> {
        let name = CString::new(run_as.user.as_bytes())?;
        let gid = Gid::from_raw(run_as.gid);
        let groups = nix::unistd::getgrouplist(&name, gid).map_err(|e| {
            std::io::Error::other(format!(
                "cannot read the groups of user {}: {e}",
                run_as.user
            ))
        })?;
        Ok(Credentials {
            uid: Uid::from_raw(run_as.uid),
            gid,
            groups,
        })
    }

    /// In the forked child: drop to these ids for good (groups first, the user last, since
    /// only root may change groups), then enter `cwd` as the user, so a folder the user may
    /// not enter is refused rather than entered with root's rights.
    fn assume(&self, cwd: &CString) -> std::io::Result<()> {
        nix::unistd::setgroups(&self.groups)?;
        nix::unistd::setgid(self.gid)?;
        nix::unistd::setuid(self.uid)?;
        nix::unistd::chdir(cwd.as_c_str())?;
        Ok(())
    }
}

/// In the forked child: put the shared listener on fd 3, inheritable across exec.
fn pass_listener(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: plain fd syscalls on fds this process owns.
    let result = unsafe {
        if fd == LISTEN_FD {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, LISTEN_FD)
        }
    };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// In the forked child: ask for SIGTERM when the daemon dies, and leave at once if it already has.
fn die_with_parent(daemon: Pid) -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    if nix::unistd::getppid() != daemon {
        // SAFETY: _exit is async-signal-safe; the daemon died between fork and prctl.
        unsafe { libc::_exit(1) };
    }
    Ok(())
}
