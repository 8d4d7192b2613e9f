#!/usr/bin/env python3
"""Supervisor benchmark: daemon RSS with 4 children, crash->restart latency, `svc status` latency.

RSS and PSS are read 3 s after start (the daemon drops its start-up code 2 s after it starts:
src/cli/commands/start/resident.rs), right after 50 restarts and 150 status calls, and 6 s later
(the daemon drops the code that work ran at most every 5 s).

Usage: benches/supervisor.py [path/to/svc]   (default: target/release/svc, else target/debug/svc)
Prints a Markdown table for docs/BENCHMARKS.md. Bounded: ~20 s, loopback only, cleans up after itself.
"""
import json, os, signal, statistics, subprocess, sys, tempfile, time

from daemon_probe import children, memory_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
svc = sys.argv[1] if len(sys.argv) > 1 else next(
    p for p in (f"{ROOT}/target/release/svc", f"{ROOT}/target/debug/svc") if os.path.exists(p))

CONFIG = """
[programs.crashy]
command = ["sleep", "1000"]
restart_delay = "0ms"
min_uptime = "0s"
ready = { uptime = "0s" }

[programs.idle]
command = ["sleep", "1000"]
instances = 3
ready = { uptime = "0s" }
"""

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

with tempfile.TemporaryDirectory(prefix="svc-bench") as d:
    cfg = os.path.join(d, "svc.toml")
    open(cfg, "w").write(CONFIG)
    run = lambda *a: subprocess.run([svc, "--config", cfg, *a], capture_output=True, check=True)
    run("start")
    daemon = int(open(os.path.join(d, "run/svc.pid")).read())
    try:
        time.sleep(3)
        idle = memory_kib(daemon)

        # crash -> restart: SIGKILL the crashy instance, time until the daemon has a new child.
        latencies = []
        for _ in range(50):
            before = set(children(daemon))
            status = json.loads(run("status", "--json").stdout)
            victim = next(i["pid"] for i in status if i["name"] == "crashy")
            t0 = time.perf_counter_ns()
            os.kill(victim, signal.SIGKILL)
            deadline = time.time() + 5
            while time.time() < deadline:
                if set(children(daemon)) - before:
                    latencies.append((time.perf_counter_ns() - t0) / 1e6)
                    break
            time.sleep(0.02)

        # svc status: full CLI round trip, process start to exit.
        status_ms = []
        for _ in range(100):
            t0 = time.perf_counter_ns()
            run("status")
            status_ms.append((time.perf_counter_ns() - t0) / 1e6)
        busy = memory_kib(daemon)
        time.sleep(6)
        rested = memory_kib(daemon)
    finally:
        subprocess.run([svc, "--config", cfg, "stop"], capture_output=True)

print(f"binary: {os.path.relpath(svc, ROOT)}")
print("| figure | svc | PM2 | supervisord |")
print("|---|---|---|---|")
mib = lambda m: f"{m[0] / 1024:.1f} / {m[1] / 1024:.1f} MiB"
print(f"| daemon RSS / PSS, 4 children | {mib(idle)} idle ({mib(busy)} right after 50 restarts + 150 status calls, {mib(rested)} 6 s later) | ~59 MiB | ~18 MiB |")
print(f"| crash -> restart (SIGKILL to new child forked), median / p95 of {len(latencies)} | {statistics.median(latencies):.2f} ms / {pct(latencies, 95):.2f} ms | ~8 ms | ~1 s |")
print(f"| `svc status` (whole CLI run), median / p95 of {len(status_ms)} | {statistics.median(status_ms):.2f} ms / {pct(status_ms, 95):.2f} ms | ~270 ms (`pm2 ls`) | ~170 ms |")
