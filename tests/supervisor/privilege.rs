//! Privilege separation: a root daemon runs each program as its `user`, with real processes
//! (read back from `/proc`), its output still captured, its listening socket and readiness still
//! working; `svc config check` shows the account; the systemd unit runs the daemon as a named
//! user or with only the capabilities it needs, and verifies.
//!
//! The tests that switch users need root (CI runs the suite as root); they say so and return
//! early otherwise. The refusal of another user by a daemon that is not root is a unit test of
//! the config validation (`src/config/resolve.rs`), which takes the daemon's ids as input.

use crate::common::harness;
use crate::common::logs;
use crate::common::wait::{PATIENCE, holds_within, wait_until};

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::*;
use logs::records;
use nix::unistd::{Group, User};

/// The unprivileged account the tests switch to.
const USER: &str = "nobody";

/// `USER`'s uid, primary gid and the name of that group.
fn account() -> (u32, u32, String) {
    let user = User::from_name(USER)
        .unwrap()
        .expect("the user nobody exists");
    let group = Group::from_gid(user.gid)
        .unwrap()
        .map_or_else(|| user.gid.to_string(), |g| g.name);
    (user.uid.as_raw(), user.gid.as_raw(), group)
}

/// The `Uid:`, `Gid:` or `Groups:` fields of a process, from `/proc/PID/status`.
fn ids(pid: i32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// A folder every user may enter and none but root may write.
fn open_folder() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("svc-open")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_program_with_a_user_runs_as_that_user_and_its_output_is_still_captured() {
    if !is_root() {
        eprintln!("not root: a daemon that is not root cannot switch users; skipped");
        return;
    }
    let (uid, gid, _) = account();
    let project = Project::new(&format!(
        "[programs.web]\n\
         command = [\"sh\", \"-c\", \"grep -E '^(Uid|Gid):' /proc/self/status; echo \\\"env $USER $LOGNAME $HOME\\\"; echo to-stderr >&2; exec sleep 300\"]\n\
         user = \"{USER}\"\n\
         cwd = \"/\"\n\
         ready = {{ uptime = \"0s\" }}\n\
         [programs.plain]\n\
         command = [\"sleep\", \"300\"]\n\
         ready = {{ uptime = \"0s\" }}\n"
    ));
    project.start();
    let pid = pid_of(&project.instance("web", 0));
    assert_eq!(ids(pid, "Uid"), [uid; 4], "real, effective, saved, fs uid");
    assert_eq!(ids(pid, "Gid"), [gid; 4], "real, effective, saved, fs gid");
    let expected_groups: Vec<u32> = {
        let name = std::ffi::CString::new(USER).unwrap();
        let mut groups: Vec<u32> =
            nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid))
                .unwrap()
                .into_iter()
                .map(|g| g.as_raw())
                .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    };
    let mut groups = ids(pid, "Groups");
    groups.sort_unstable();
    assert_eq!(
        groups, expected_groups,
        "the supplementary groups of {USER}"
    );
    // The program without `user` still runs as the daemon does.
    assert_eq!(ids(pid_of(&project.instance("plain", 0)), "Uid"), [0; 4]);

    // Its output went through the pipes into the daemon's logs.
    let home = User::from_name(USER).unwrap().unwrap().dir;
    let wanted = [
        format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}"),
        format!("env {USER} {USER} {}", home.display()),
        "to-stderr".to_owned(),
    ];
    let logs = project.path("logs");
    let mut lines = Vec::new();
    let found = holds_within(PATIENCE, || {
        lines = records(&logs, "app.log")
            .into_iter()
            .filter(|r| r["program"] == "web" && r["pid"] == pid)
            .filter_map(|r| r["msg"].as_str().map(str::to_owned))
            .collect();
        wanted.iter().all(|w| lines.contains(w))
    });
    assert!(found, "wanted {wanted:?} in app.log, got {lines:?}");

    // The daemon chowned nothing: its folders and files, and the program's cwd, stay root's.
    for path in [
        project.dir.path().to_path_buf(),
        project.path("run"),
        project.path("run/svc.sock"),
        project.path("logs"),
        project.path("logs/app.log"),
        PathBuf::from("/"),
    ] {
        let owner = std::fs::symlink_metadata(&path).unwrap().uid();
        assert_eq!(owner, 0, "{} changed hands", path.display());
    }
}

#[test]
fn a_program_running_as_its_user_keeps_its_listening_socket_and_notify_readiness() {
    if !is_root() {
        eprintln!("not root: a daemon that is not root cannot switch users; skipped");
        return;
    }
    let (uid, gid, _) = account();
    // The user must be able to run the binary and write its data: an open folder of its own.
    let open = open_folder();
    let exe = open.path().join("svc");
    std::fs::copy(SVC, &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = open.path().join("data");
    std::fs::create_dir(&data).unwrap();
    nix::unistd::chown(
        &data,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .unwrap();
    let port = free_port();
    // PORT names another port: an answer on `listen` can only come through fd 3.
    let unused = free_port();
    let project = Project::new(&format!(
        "[programs.api]\n\
         command = [{exe:?}, \"api\"]\n\
         user = \"{USER}\"\n\
         cwd = {cwd:?}\n\
         listen = \"127.0.0.1:{port}\"\n\
         ready = {{ notify = true, timeout = \"30s\" }}\n\
         env = {{ DATA_DIR = {data:?}, PORT = \"{unused}\", HOST = \"127.0.0.1\" }}\n",
        exe = exe.display().to_string(),
        cwd = open.path().display().to_string(),
        data = data.display().to_string(),
    ));
    // `svc start` returns once READY=1 arrived on the abstract notify socket.
    project.start();
    let api = project.instance("api", 0);
    assert_eq!(api["state"], "online", "{api}");
    assert_eq!(ids(pid_of(&api), "Uid"), [uid; 4]);
    let (status, body) = http(port, "GET", "/health", &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", unused)).is_err(),
        "the api bound PORT itself instead of taking fd 3"
    );
    // What it wrote is its own.
    assert_eq!(std::fs::metadata(data.join("svc.db")).unwrap().uid(), uid);

    // A reload starts the new process as the user too, and it gets ready the same way.
    let out = project.svc(&["reload", "api"]);
    assert_ok(&out, "svc reload api");
    let after = project.instance("api", 0);
    assert_ne!(pid_of(&after), pid_of(&api));
    assert_eq!(ids(pid_of(&after), "Uid"), [uid; 4]);
    assert_eq!(http(port, "GET", "/health", &[], "").unwrap().0, 200);
}

#[test]
fn a_program_running_as_its_user_still_dies_with_a_killed_daemon() {
    if !is_root() {
        eprintln!("not root: a daemon that is not root cannot switch users; skipped");
        return;
    }
    // The parent-death signal is cleared by a change of ids: it must be set after the switch.
    let project = Project::new(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\ncwd = \"/\"\nready = {{ uptime = \"0s\" }}\n"
    ));
    project.start();
    let child = pid_of(&project.instance("web", 0));
    kill(project.daemon_pid().unwrap(), "KILL");
    wait_until("the child to follow its daemon", || !alive(child));
}

#[test]
fn a_cwd_the_user_may_not_enter_is_refused_not_entered_as_root() {
    if !is_root() {
        eprintln!("not root: a daemon that is not root cannot switch users; skipped");
        return;
    }
    // The program's cwd is the project's folder: root's, and closed to others.
    let project = Project::new(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\nrestart = \"never\"\n"
    ));
    std::fs::set_permissions(project.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = project.svc(&["start"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let web = project.instance("web", 0);
    let reason = web["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("Permission denied") && reason.contains(USER),
        "{web}"
    );
}

#[test]
fn a_root_daemon_warns_once_about_programs_without_a_user() {
    if !is_root() {
        eprintln!("not root: the warning is a root daemon's; skipped");
        return;
    }
    let project = Project::new(&format!(
        "[programs.alpha]\ncommand = [\"sleep\", \"300\"]\nready = {{ uptime = \"0s\" }}\n\
         [programs.beta]\ncommand = [\"sleep\", \"300\"]\nready = {{ uptime = \"0s\" }}\n\
         [programs.gamma]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\ncwd = \"/\"\nready = {{ uptime = \"0s\" }}\n"
    ));
    project.start();
    let log = std::fs::read_to_string(project.path("logs/svc.log")).unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("no `user`")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("\"level\":\"warn\""),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("alpha, beta"), "{}", warnings[0]);
    assert!(!warnings[0].contains("gamma"), "{}", warnings[0]);

    let quiet = Project::new(&format!(
        "[programs.gamma]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\ncwd = \"/\"\nready = {{ uptime = \"0s\" }}\n"
    ));
    quiet.start();
    let log = std::fs::read_to_string(quiet.path("logs/svc.log")).unwrap();
    assert!(!log.contains("no `user`"), "{log}");
}

#[test]
fn config_check_shows_the_account_and_refuses_unknown_ones() {
    let (uid, gid, group) = account();
    let project = Project::new(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\n"
    ));
    let out = project.svc(&["config", "check"]);
    if is_root() {
        assert_ok(&out, "svc config check");
        let shown = stdout(&out);
        for line in [
            format!("user = \"{USER}\""),
            format!("uid = {uid}"),
            format!("group = \"{group}\""),
            format!("gid = {gid}"),
        ] {
            assert!(shown.lines().any(|l| l == line), "{line} missing:\n{shown}");
        }
    } else {
        // Not root and not nobody: the same file is refused, at the key.
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        assert!(stderr(&out).contains("svc.toml:3:8: programs.web.user: cannot run as"));
    }

    let bad = Project::new(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"no-such-user-here\"\ngroup = \"no-such-group-here\"\n",
    );
    let out = bad.svc(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("svc.toml:3:8: programs.web.user: no user \"no-such-user-here\""),
        "{err}"
    );
}

/// The capabilities of the generated root unit, as `setpriv --bounding-set` takes them.
fn unit_capabilities(unit: &str) -> String {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("CapabilityBoundingSet=");
    std::iter::once("-all".to_owned())
        .chain(
            line.split_whitespace()
                .map(|cap| format!("+{}", cap.trim_start_matches("CAP_").to_ascii_lowercase())),
        )
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_root_units_capabilities_are_enough_to_run_programs_as_their_user() {
    if !is_root() {
        eprintln!("not root: cannot drop capabilities a process does not have; skipped");
        return;
    }
    let (uid, _, _) = account();
    let project = Project::new(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\ncwd = \"/\"\ninstances = 2\nready = {{ uptime = \"0s\" }}\n"
    ));
    let out = project.svc(&["startup", "systemd"]);
    assert_ok(&out, "svc startup systemd");
    let caps = unit_capabilities(&stdout(&out));
    assert_eq!(caps, "-all,+setuid,+setgid,+kill");

    // The daemon as the unit would run it: only those capabilities, no new privileges.
    let mut start = Command::new("setpriv");
    start
        .args([
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set",
            &caps,
            SVC,
        ])
        .arg("--config")
        .arg(project.config())
        .arg("start");
    assert_ok(&run(start), "svc start with the unit's capabilities");
    let daemon = project.daemon_pid().unwrap();
    let bounding = std::fs::read_to_string(format!("/proc/{daemon}/status")).unwrap();
    // CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7): 0xe0.
    assert!(
        bounding.lines().any(|l| l == "CapBnd:\t00000000000000e0"),
        "{bounding}"
    );
    let children: Vec<i32> = (0..2)
        .map(|i| pid_of(&project.instance("web", i)))
        .collect();
    for &child in &children {
        assert_eq!(ids(child, "Uid"), [uid; 4]);
    }
    // Stopping signals processes of another uid: CAP_KILL at work.
    let out = project.svc(&["stop"]);
    assert_ok(&out, "svc stop");
    for child in children {
        assert!(!alive(child), "pid {child} outlived the stop");
    }
}

/// A folder for unit tests outside /tmp (whose paths would turn `PrivateTmp=` off).
fn unit_project(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("svc-unit")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let config = dir.path().join("svc.toml");
    std::fs::write(&config, toml).unwrap();
    (dir, config)
}

fn startup(config: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(SVC);
    command
        .arg("--config")
        .arg(config)
        .args(["startup", "systemd"])
        .args(args);
    run(command)
}

/// `systemd-analyze verify` passes without a word; `security --offline` reports the exposure
/// (systemd 250 or later, which `scripts/test.sh` installs).
fn verify(dir: &Path, name: &str, unit: &str, user_manager: bool) -> f64 {
    let path = dir.join(name);
    std::fs::write(&path, unit).unwrap();
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let analyze = |args: &[&str]| {
        let mut command = Command::new("systemd-analyze");
        if user_manager {
            command.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
        }
        command.args(args).arg(&path);
        run(command)
    };
    let verified = analyze(&["verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert_eq!(
        stderr(&verified).trim(),
        "",
        "systemd-analyze warned:\n{unit}"
    );
    let security = analyze(&["security", "--offline=true", "--no-pager"]);
    let report = stdout(&security);
    let exposure = report
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")?
                .1
                .split_once(": ")
        })
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok());
    exposure.unwrap_or_else(|| {
        panic!(
            "systemd-analyze security --offline reported no exposure: {}",
            stderr(&security)
        )
    })
}

#[test]
fn the_systemd_unit_runs_the_daemon_as_a_named_user_hardened_and_verifies() {
    // `daemon`, not `nobody`: systemd warns about a unit running as nobody.
    let daemon = User::from_name("daemon")
        .unwrap()
        .expect("the system account `daemon` (every Debian and Ubuntu has it)");
    let group = Group::from_gid(daemon.gid).unwrap().unwrap().name;
    let (dir, config) = unit_project(
        "[programs.api]\ncommand = [\"svc\", \"api\"]\nlisten = \"127.0.0.1:3000\"\n\
         [programs.worker]\ncommand = [\"svc\", \"worker\"]\nenv = { DATA_DIR = \"/srv/../var/lib/svc-test\" }\n\
         [programs.other]\ncommand = [\"sleep\", \"300\"]\n",
    );
    let out = startup(&config, &["--user-name", "daemon"]);
    assert_ok(&out, "svc startup systemd --user-name daemon");
    let unit = stdout(&out);
    let root = dir.path().display();
    let homes = ["/home", "/root"];
    let in_home = [Path::new(SVC), dir.path()]
        .iter()
        .any(|p| homes.iter().any(|h| p.starts_with(h)));
    for line in [
        "User=daemon".to_owned(),
        format!("Group={group}"),
        "NoNewPrivileges=yes".into(),
        "ProtectSystem=strict".into(),
        "PrivateTmp=yes".into(),
        if in_home {
            "ProtectHome=read-only".into()
        } else {
            "ProtectHome=yes".into()
        },
        "ProtectKernelTunables=yes".into(),
        "ProtectKernelModules=yes".into(),
        "ProtectControlGroups=yes".into(),
        "RestrictSUIDSGID=yes".into(),
        "LockPersonality=yes".into(),
        "RestrictRealtime=yes".into(),
        "RestrictNamespaces=yes".into(),
        "SystemCallArchitectures=native".into(),
        "UMask=0077".into(),
        "ProtectProc=invisible".into(),
        // An ordinary process starting programs as itself needs no capability at all.
        "CapabilityBoundingSet=".into(),
        format!("ReadWritePaths={root}/run"),
        format!("ReadWritePaths={root}/logs"),
        // The api's DATA_DIR is `data` against its cwd; the worker's its own, normalized;
        // `sleep` reads none.
        format!("ReadWritePaths={root}/data"),
        "ReadWritePaths=/var/lib/svc-test".into(),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    assert_eq!(unit.matches("ReadWritePaths=").count(), 4, "{unit}");
    assert!(!unit.contains("AmbientCapabilities"), "{unit}");
    // The folders systemd needs before it starts the unit are named on stderr.
    assert!(
        stderr(&out).contains(&format!(
            "install -d -m 0700 -o daemon -g {group} {root}/run"
        )),
        "{}",
        stderr(&out)
    );
    let named = verify(dir.path(), "svc-test-named.service", &unit, false);

    // The root unit: the capabilities to switch programs to their user, and no more.
    let out = startup(&config, &[]);
    assert_ok(&out, "svc startup systemd");
    let root_unit = stdout(&out);
    assert!(!root_unit.contains("User="), "{root_unit}");
    assert!(
        root_unit
            .lines()
            .any(|l| l == "CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL"),
        "{root_unit}"
    );
    let rooted = verify(dir.path(), "svc-test-root.service", &root_unit, false);

    // Before: the unit as it was, without a sandbox.
    let bare: String = root_unit
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && ![
                    "NoNewPrivileges",
                    "UMask",
                    "Lock",
                    "Restrict",
                    "SystemCall",
                    "Protect",
                    "Private",
                    "ReadWrite",
                    "Capability",
                ]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let before = verify(dir.path(), "svc-test-bare.service", &bare, false);
    eprintln!(
        "FIGURE systemd-analyze security exposure: bare {before}, root {rooted}, --user-name {named}"
    );
    assert!(
        rooted <= 3.0 && named <= 3.0,
        "{before} → {rooted}, {named}"
    );
    assert!(before - rooted >= 5.0, "{before} → {rooted}");

    // A user unit: only what a user's service manager applies.
    let out = startup(&config, &["--user"]);
    assert_ok(&out, "svc startup systemd --user");
    let user_unit = stdout(&out);
    assert!(user_unit.contains("NoNewPrivileges=yes"), "{user_unit}");
    assert!(!user_unit.contains("ProtectSystem"), "{user_unit}");
    assert!(!user_unit.contains("CapabilityBoundingSet"), "{user_unit}");
    verify(dir.path(), "svc-test-user.service", &user_unit, true);
}

#[test]
fn the_unit_follows_the_config_privileged_ports_paths_and_users() {
    let (dir, config) = unit_project(
        "[daemon]\nstate_dir = \"/tmp/svc-unit-state\"\n\
         [programs.web]\ncommand = [\"sleep\", \"300\"]\nlisten = \"127.0.0.1:80\"\n",
    );
    let out = startup(&config, &["--user-name", "daemon"]);
    assert_ok(&out, "svc startup systemd --user-name daemon");
    let unit = stdout(&out);
    // Port 80 is bound by the daemon, which is not root: one ambient capability.
    assert!(
        unit.lines()
            .any(|l| l == "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"),
        "{unit}"
    );
    assert!(
        unit.lines()
            .any(|l| l == "AmbientCapabilities=CAP_NET_BIND_SERVICE"),
        "{unit}"
    );
    // The state folder is under /tmp: a private /tmp would hide it.
    assert!(!unit.contains("PrivateTmp=yes"), "{unit}");
    assert!(
        unit.contains("# no PrivateTmp=: /tmp/svc-unit-state"),
        "{unit}"
    );
    verify(dir.path(), "svc-test-ports.service", &unit, false);

    // A daemon running as `daemon` could not start a program as anyone else: refused, whoever
    // generates the unit, at the key.
    let (_dir, config) = unit_project(&format!(
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"{USER}\"\ncwd = \"/\"\n"
    ));
    let out = startup(&config, &["--user-name", "daemon"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("svc.toml:3:8: programs.web.user: cannot run as \"nobody\""),
        "{}",
        stderr(&out)
    );
    let out = startup(&config, &["--user-name", "no-such-user-here"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

#[test]
fn a_user_who_is_not_root_generates_the_root_unit_and_reads_the_config_of_a_root_daemon() {
    if !is_root() {
        eprintln!("not root: cannot run the command as another user; skipped");
        return;
    }
    // `svc startup systemd | sudo tee …`: the command runs as an ordinary user, the unit's
    // daemon as root, so `user = "daemon"` is fine for it.
    let open = open_folder();
    let exe = open.path().join("svc");
    std::fs::copy(SVC, &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = open.path().join("svc.toml");
    std::fs::write(
        &config,
        "[programs.web]\ncommand = [\"sleep\", \"300\"]\nuser = \"daemon\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .arg("--config")
            .arg(&config)
            .args(args);
        run(command)
    };
    let out = as_nobody(&["startup", "systemd"]);
    assert_ok(&out, "svc startup systemd as nobody");
    assert!(stdout(&out).contains("CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL"));
    // A client reads the config for its paths: no daemon here (exit 3), no config error.
    let out = as_nobody(&["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // The daemon itself, run as nobody, would refuse that program.
    let out = as_nobody(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("svc.toml:3:8: programs.web.user: cannot run as \"daemon\""),
        "{}",
        stderr(&out)
    );
}
