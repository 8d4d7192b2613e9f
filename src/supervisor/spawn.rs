//! Forking one program instance: its own process group, a parent-death signal, piped output.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::config::Program;

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

/// Forks and execs one instance of `program`.
///
/// The child leads its own process group (so a stop reaches its grandchildren), gets SIGTERM if
/// the daemon dies (`PR_SET_PDEATHSIG`; the daemon forks only from its single runtime thread, the
/// thread that lives as long as the daemon), and starts with stdin on /dev/null.
///
/// # Errors
/// Fails when the program cannot be executed (not found, not executable, bad cwd).
pub fn spawn(program: &Program, placement: &Placement<'_>) -> std::io::Result<Child> {
    let mut command = Command::new(&program.command[0]);
    command
        .args(&program.command[1..])
        .current_dir(&program.cwd)
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
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (prctl, getppid, dup2, fcntl, _exit).
    unsafe {
        command.pre_exec(move || {
            die_with_parent(daemon)?;
            if let Some(fd) = listener {
                pass_listener(fd)?;
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("child pipes missing"));
    };
    Ok(Child {
        pid: child.id(),
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
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
