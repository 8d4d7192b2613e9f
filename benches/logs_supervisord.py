#!/usr/bin/env python3
"""Log capture, svc beside supervisord in the same run: the same Python child under each.

Usage: benches/logs_supervisord.py [path/to/svc] [--against path/to/other-svc] [--runs N]
  (default binary: target/release/svc, else target/debug/svc; --against runs a second build, say
  the code before a change, in the same rounds, so before and after meet the same machine load)

The child (Python, as a service would be) builds 200,000 numbered 58-byte lines, says "ready",
waits for SIGUSR1, then writes them (one os.write() per line, or all in one os.write()), then
"END", and stays up. "write" is the child's own time for its writes (a slow reader makes them
block on the full pipe); "on disk" runs from the signal until END is in the log file (polled every
0.5 ms). Every run then checks the log holds each line exactly once, whole (svc: one JSON record
per line; supervisord: the raw lines across its rotated files). Cases: no rotation, and rotation at
1 MiB (50 kept, gzip off). Last, the daemons' RSS and PSS with 4 idle `sleep` children, 3 s after
start (svc drops its start-up code 2 s after it starts: src/cli/commands/start/resident.rs).

supervisord comes from PyPI, installed once into target/bench-venv. Prints Markdown tables for
docs/BENCHMARKS.md with the ratio svc / supervisord (median of N runs, default 5).
"""
import json, os, signal, statistics, subprocess, sys, tempfile, time

from daemon_probe import children, memory_kib, tail_has

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPERVISOR_VERSION = "4.3.0"
LINES = 200_000
IDLE_AFTER = 3.0  # seconds after start when the idle daemons' memory is read
args = sys.argv[1:]
RUNS = 5
if "--runs" in args:
    i = args.index("--runs"); RUNS = int(args[i + 1]); del args[i:i + 2]
AGAINST = None
if "--against" in args:
    i = args.index("--against"); AGAINST = os.path.abspath(args[i + 1]); del args[i:i + 2]
svc = os.path.abspath(args[0]) if args else next(
    p for p in (f"{ROOT}/target/release/svc", f"{ROOT}/target/debug/svc") if os.path.exists(p))

CHILD = r"""
import os, signal, sys, time
mode, n, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [b"%08d %s\n" % (i, b"x" * 48) for i in range(1, n + 1)]  # 58 bytes each
block = b"".join(lines)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
os.write(1, b"ready\n")
signal.sigwait({signal.SIGUSR1})
t0 = time.perf_counter()
if mode == "lines":
    for line in lines:
        os.write(1, line)
else:
    view = memoryview(block)
    while view:
        view = view[os.write(1, view):]
elapsed = time.perf_counter() - t0
os.write(1, b"END\n")
with open(report, "w") as f:
    f.write(str(elapsed))
while True:
    signal.pause()
"""


def venv_supervisord():
    venv = os.path.join(ROOT, "target/bench-venv")
    exe = os.path.join(venv, "bin/supervisord")
    check = [os.path.join(venv, "bin/python"), "-c",
             f"import importlib.metadata as m, sys; sys.exit(m.version('supervisor') != '{SUPERVISOR_VERSION}')"]
    if not os.path.exists(exe) or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"installing supervisor {SUPERVISOR_VERSION} into target/bench-venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin/python"), "-m", "pip", "install", "-q",
                        f"supervisor=={SUPERVISOR_VERSION}"], check=True)
    return exe


def wait_for(cond, what, limit=30):
    deadline = time.perf_counter() + limit
    while not cond():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.0005)


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def check_lines(numbers):
    """Each numbered line exactly once and whole; returns (lost, duplicated, split)."""
    seen = bytearray(LINES + 1)
    dup = split = 0
    for text in numbers:
        if len(text) != 57 or not text[:8].isdigit():
            split += 1
            continue
        i = int(text[:8])
        if seen[i]:
            dup += 1
        seen[i] = 1
    lost = LINES - sum(seen)
    return lost, dup, split


def svc_numbers(logs):
    for name in sorted(os.listdir(logs)):
        if not (name.startswith("app.log.") and name[8:].isdigit()):
            continue
        with open(os.path.join(logs, name), "rb") as f:
            for raw in f:
                record = json.loads(raw)
                if record.get("source") == "svc":
                    continue
                msg = record["msg"]
                if msg not in ("ready", "END"):
                    yield msg


def supervisord_numbers(d):
    names = [n for n in os.listdir(d) if n.startswith("writer.out.log")]
    def age(name):  # writer.out.log.50 is the oldest, writer.out.log the newest
        suffix = name[len("writer.out.log"):]
        return -int(suffix[1:]) if suffix else 0
    data = b"".join(open(os.path.join(d, n), "rb").read() for n in sorted(names, key=age))
    for raw in data.decode().split("\n"):
        if raw and raw not in ("ready", "END"):
            yield raw


def run_svc(d, child, mode, rotate, svc=svc):
    logs_cfg = ('max_size = "1MiB"\nkeep = 50\ncompress = false' if rotate
                else 'max_size = "100GiB"\nkeep = 1\ncompress = false')
    report = os.path.join(d, "report")
    cfg = os.path.join(d, "svc.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[logs]
{logs_cfg}

[programs.writer]
command = {json.dumps([sys.executable, child, mode, str(LINES), report])}
ready = {{ uptime = "0s" }}
""")
    run = lambda *a: subprocess.run([svc, "--config", cfg, *a], capture_output=True, check=True)
    run("start")
    try:
        link = os.path.join(d, "logs/app.log")
        wait_for(lambda: tail_has(link, b'"msg":"ready"'), "ready")
        pid = json.loads(run("status", "--json").stdout)[0]["pid"]
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: tail_has(link, b'"msg":"END"'), "END")
        on_disk = time.perf_counter() - t0
        wait_for(lambda: os.path.exists(report) and os.path.getsize(report) > 0, "report")
        write = float(open(report).read())
    finally:
        subprocess.run([svc, "--config", cfg, "stop"], capture_output=True)
    return write, on_disk, check_lines(svc_numbers(os.path.join(d, "logs")))


def supervisord_conf(d, programs, rotate=False):
    text = f"""
[supervisord]
logfile = {d}/supervisord.log
pidfile = {d}/supervisord.pid
childlogdir = {d}
"""
    for name, command, numprocs in programs:
        text += f"""
[program:{name}]
command = {command}
numprocs = {numprocs}
process_name = %(program_name)s_%(process_num)d
startsecs = 0
autorestart = false
stdout_logfile = {d}/{name}.out.log
stdout_logfile_maxbytes = {"1MB" if rotate else 0}
stdout_logfile_backups = 50
stderr_logfile = {d}/{name}.err.log
stderr_logfile_maxbytes = 0
"""
    conf = os.path.join(d, "supervisord.conf")
    with open(conf, "w") as f:
        f.write(text)
    return conf


def start_supervisord(exe, conf, children_wanted):
    daemon = subprocess.Popen([exe, "-n", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for(lambda: len(children(daemon.pid)) >= children_wanted, "supervisord's children")
    return daemon


def stop_supervisord(daemon):
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(30)


def run_supervisord(exe, d, child, mode, rotate):
    report = os.path.join(d, "report")
    # supervisord's "1MB" is 1024 * 1024 bytes, like svc's "1MiB".
    command = f"{sys.executable} {child} {mode} {LINES} {report}"
    conf = supervisord_conf(d, [("writer", command, 1)], rotate)
    daemon = start_supervisord(exe, conf, 1)
    try:
        log = os.path.join(d, "writer.out.log")
        wait_for(lambda: tail_has(log, b"ready\n"), "ready")
        pid = children(daemon.pid)[0]
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: tail_has(log, b"END\n"), "END")
        on_disk = time.perf_counter() - t0
        wait_for(lambda: os.path.exists(report) and os.path.getsize(report) > 0, "report")
        write = float(open(report).read())
    finally:
        stop_supervisord(daemon)
    return write, on_disk, check_lines(supervisord_numbers(d))


def idle_svc(d, svc=svc):
    cfg = os.path.join(d, "svc.toml")
    with open(cfg, "w") as f:
        f.write('[programs.idle]\ncommand = ["sleep", "1000"]\ninstances = 4\nready = { uptime = "0s" }\n')
    subprocess.run([svc, "--config", cfg, "start"], capture_output=True, check=True)
    try:
        daemon = int(open(os.path.join(d, "run/svc.pid")).read())
        time.sleep(IDLE_AFTER)
        return (*memory_kib(daemon), threads(daemon))
    finally:
        subprocess.run([svc, "--config", cfg, "stop"], capture_output=True)


def idle_supervisord(exe, d):
    daemon = start_supervisord(exe, supervisord_conf(d, [("idle", "sleep 1000", 4)]), 4)
    try:
        time.sleep(IDLE_AFTER)
        return (*memory_kib(daemon.pid), threads(daemon.pid))
    finally:
        stop_supervisord(daemon)


def main():
    exe = venv_supervisord()
    cases = [("lines", False, "one os.write() per line, no rotation"),
             ("lines", True, "one os.write() per line, 1 MiB rotation (gzip off)"),
             ("block", False, "one big os.write(), no rotation"),
             ("block", True, "one big os.write(), 1 MiB rotation (gzip off)")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="svc-logpeer") as top:
        child = os.path.join(top, "child.py")
        with open(child, "w") as f:
            f.write(CHILD)
        builds = {"svc": svc, **({"other": AGAINST} if AGAINST else {})}
        for run in range(RUNS):
            for mode, rotate, label in cases:
                # Rotate who goes first, so none always runs on a warmer machine.
                order = [*builds, "supervisord"]
                order = order[run % len(order):] + order[:run % len(order)]
                for who in order:
                    with tempfile.TemporaryDirectory(dir=top) as d:
                        if who in builds:
                            got = run_svc(d, child, mode, rotate, builds[who])
                        else:
                            got = run_supervisord(exe, d, child, mode, rotate)
                    results.setdefault((label, who), []).append(got)
                    print(f"run {run + 1}: {label}: {who}: write {got[0]:.3f} s, on disk {got[1]:.3f} s, "
                          f"lost/dup/split {got[2]}", file=sys.stderr)
        idle = {}
        for _ in range(RUNS):
            for who, build in builds.items():
                with tempfile.TemporaryDirectory(dir=top) as d:
                    idle.setdefault(who, []).append(idle_svc(d, build))
            with tempfile.TemporaryDirectory(dir=top) as d:
                idle.setdefault("supervisord", []).append(idle_supervisord(exe, d))

    med = lambda runs, i: statistics.median(r[i] for r in runs)
    names = {"svc": os.path.relpath(svc, ROOT), "other": AGAINST and os.path.relpath(AGAINST, ROOT)}
    print(f"binary: {names['svc']}" + (f"; against: {names['other']}" if AGAINST else "") +
          f"; supervisord {SUPERVISOR_VERSION}; child: Python {sys.version.split()[0]}, "
          f"200,000 lines of 58 bytes; median of {RUNS} runs; lost / dup / split: all daemons, all runs")
    print()
    # The machine's load moves the daemons' times together, so each ratio is also given per run
    # (the daemons back to back), as the median of those.
    heads = [names[who] for who in builds]
    print("| case: write / on disk | " + " | ".join(heads) + " | supervisord | "
          + " | ".join(f"{h} / supervisord, on disk: of the medians; median per run" for h in heads)
          + " | lost / dup / split |")
    print("|---" * (3 + 2 * len(builds)) + "|")
    for _, _, label in cases:
        p = results[(label, "supervisord")]
        cells, ratios = [], []
        faults = [sum(r[2][k] for who in [*builds, "supervisord"] for r in results[(label, who)])
                  for k in range(3)]
        for who in builds:
            s = results[(label, who)]
            paired = statistics.median(a[1] / b[1] for a, b in zip(s, p))
            cells.append(f"{med(s, 0):.3f} / {med(s, 1):.3f} s")
            ratios.append(f"{med(s, 1) / med(p, 1):.2f}; {paired:.2f}")
        print(f"| {label} | " + " | ".join(cells) + f" | {med(p, 0):.3f} / {med(p, 1):.3f} s | "
              + " | ".join(ratios) + f" | {faults[0]} / {faults[1]} / {faults[2]} |")
    p = idle["supervisord"]
    cells = [f"{med(idle[who], 0) / 1024:.1f} / {med(idle[who], 1) / 1024:.1f} MiB ({idle[who][0][2]} threads)"
             for who in builds]
    ratios = [f"{med(idle[who], 0) / med(p, 0):.2f} (RSS)" for who in builds]
    print("| daemon RSS / PSS, 4 idle children | " + " | ".join(cells)
          + f" | {med(p, 0) / 1024:.1f} / {med(p, 1) / 1024:.1f} MiB | " + " | ".join(ratios) + " | |")

main()
