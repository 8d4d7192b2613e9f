#!/usr/bin/env python3
"""Log pipeline benchmark: 200k lines written one write() per line until on disk (with and without
rotation), daemon CPU per 100k lines, and `svc logs --request-id` over 1 GB of logs.

Usage: benches/logs.py [path/to/svc] [--runs N] [--gb G]
  (default binary: target/release/svc, else target/debug/svc)
Prints Markdown tables for docs/BENCHMARKS.md. Needs gcc (for a writer that does nothing but
write(2)); falls back to perl. Writes ~2 GB into a temp dir for the search part and deletes it.
"""
import concurrent.futures, gzip, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

from daemon_probe import tail_has

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
args = [a for a in sys.argv[1:]]
RUNS = 5
GB = 1.0
if "--runs" in args:
    i = args.index("--runs"); RUNS = int(args[i + 1]); del args[i:i + 2]
if "--gb" in args:
    i = args.index("--gb"); GB = float(args[i + 1]); del args[i:i + 2]
svc = os.path.abspath(args[0]) if args else next(
    p for p in (f"{ROOT}/target/release/svc", f"{ROOT}/target/debug/svc") if os.path.exists(p))
LINES = 200_000

WRITER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* Writes "ready", waits for SIGUSR1 (unless argv[2] is "now"), then argv[1] numbered lines, one
   write(2) each, then "END", and stays up. */
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    int now = argc > 2 && strcmp(argv[2], "now") == 0;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    if (!now) {
        write(1, "ready\n", 6);
        int sig;
        sigwait(&set, &sig);
    }
    char buf[32];
    for (int i = 1; i <= n; i++) {
        int len = snprintf(buf, sizeof buf, "%d\n", i);
        if (write(1, buf, len) != len) return 1;
    }
    write(1, "END\n", 4);
    if (now) return 0;
    for (;;) pause();
}
"""


def build_writer(d):
    src, exe = os.path.join(d, "writer.c"), os.path.join(d, "writer")
    open(src, "w").write(WRITER_C)
    if shutil.which("gcc") and subprocess.run(["gcc", "-O2", "-o", exe, src]).returncode == 0:
        return [exe], "C, one write(2) per line"
    sys.exit("gcc is needed to build the writer")


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def peak_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


def all_lines(logs):
    count = 0
    for name in os.listdir(logs):
        if name.startswith("app.log.") and name[8:].split(".")[0].isdigit():
            path = os.path.join(logs, name)
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                count += sum(1 for _ in f)
    return count


def plain_rotated(logs):
    names = [n for n in os.listdir(logs) if n.startswith("app.log.") and n[8:].isdigit()]
    return len(names) > 1


def one_run(writer, rotate):
    logs_cfg = ('max_size = "1MiB"\nkeep = 50\ncompress = true' if rotate
                else 'max_size = "100GiB"\nkeep = 1\ncompress = false')
    config = f"""
[logs]
{logs_cfg}

[programs.writer]
command = {json.dumps(writer + [str(LINES)])}
ready = {{ uptime = "0s" }}
"""
    with tempfile.TemporaryDirectory(prefix="svc-logbench") as d:
        cfg = os.path.join(d, "svc.toml")
        open(cfg, "w").write(config)
        run = lambda *a: subprocess.run([svc, "--config", cfg, *a], capture_output=True, check=True)
        run("start")
        try:
            daemon = int(open(os.path.join(d, "run/svc.pid")).read())
            status = json.loads(run("status", "--json").stdout)
            pid = status[0]["pid"]
            link = os.path.join(d, "logs/app.log")
            deadline = time.time() + 10
            while not tail_has(link, b'"msg":"ready"'):
                assert time.time() < deadline, "writer never got ready"
                time.sleep(0.001)
            cpu0 = cpu_ticks(daemon)
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGUSR1)
            while not tail_has(link, b'"msg":"END"'):
                assert time.perf_counter() - t0 < 120, "END never reached the log"
                time.sleep(0.0005)
            elapsed = time.perf_counter() - t0
            deadline = time.time() + 60
            while plain_rotated(os.path.join(d, "logs")) and time.time() < deadline:
                time.sleep(0.01)  # gzip of the last rotated files is part of the cost
            cpu = (cpu_ticks(daemon) - cpu0) / os.sysconf("SC_CLK_TCK")
            peak = peak_rss_kib(daemon)
            lines = all_lines(os.path.join(d, "logs"))
            files = len([n for n in os.listdir(os.path.join(d, "logs")) if n.startswith("app.log.")])
        finally:
            subprocess.run([svc, "--config", cfg, "stop"], capture_output=True)
    assert lines >= LINES + 2, f"only {lines} records"
    return elapsed, cpu, files, peak


def baseline(writer, d):
    t0 = time.perf_counter()
    subprocess.run(writer + [str(LINES), "now"], stdout=subprocess.DEVNULL, check=True)
    devnull = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = subprocess.Popen(writer + [str(LINES), "now"], stdout=subprocess.PIPE)
    c = subprocess.run(["cat"], stdin=w.stdout, stdout=subprocess.DEVNULL)
    w.wait()
    piped = time.perf_counter() - t0
    return devnull, piped


# --- 1 GB search ---------------------------------------------------------------------------

FILE_BYTES = 10 << 20
TARGET = "3f2a9c1e-target-request"


def make_file(job):
    path, seq, lines_before, compress = job
    out, size, i = [], 0, lines_before
    rand = os.urandom(8 * 60000).hex()
    while size < FILE_BYTES:
        i += 1
        o = (i * 16) % (len(rand) - 32)
        rid = TARGET if i % 1_000_003 == 7 else rand[o:o + 32]
        line = (f'{{"time":"2026-11-29T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",'
                f'"level":"info","msg":"GET /products?page={i % 97} 200","program":"api","instance":{i % 2},'
                f'"pid":{4000 + i % 2},"requestId":"{rid}","durationMs":{i % 250},"bytes":{i % 9000}}}\n')
        out.append(line)
        size += len(line)
    data = "".join(out).encode()
    if compress:
        with gzip.open(path + ".gz", "wb", compresslevel=1) as f:  # as the daemon compresses
            f.write(data)
    else:
        open(path, "wb").write(data)
    return i - lines_before


def search_bench(gb):
    with tempfile.TemporaryDirectory(prefix="svc-logsearch") as d:
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        open(os.path.join(d, "svc.toml"), "w").write('[programs.api]\ncommand = ["true"]\n')
        files = max(2, int(gb * (1 << 30) / FILE_BYTES))
        # Same line count per file (rough): estimate, then generate in parallel.
        sample = make_file((os.path.join(d, "sample"), 0, 0, False))
        os.remove(os.path.join(d, "sample"))
        results = {}
        for compressed in (False, True):
            for name in os.listdir(logs):
                os.remove(os.path.join(logs, name))
            jobs = [(os.path.join(logs, f"app.log.{seq:06d}"), seq, (seq - 1) * sample,
                     compressed and seq != files) for seq in range(1, files + 1)]
            with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
                total_lines = sum(pool.map(make_file, jobs))
            os.symlink(f"app.log.{files:06d}", os.path.join(logs, "app.log"))
            disk = sum(os.path.getsize(os.path.join(logs, n)) for n in os.listdir(logs))
            cmd = [svc, "--config", os.path.join(d, "svc.toml"), "logs", "--request-id", TARGET, "--json"]
            times, found = [], 0
            for _ in range(3):
                t0 = time.perf_counter()
                out = subprocess.run(cmd, capture_output=True, check=True)
                times.append(time.perf_counter() - t0)
                found = len(out.stdout.splitlines())
            t0 = time.perf_counter()
            subprocess.run([svc, "--config", os.path.join(d, "svc.toml"), "logs", "-n", "50"],
                           capture_output=True, check=True)
            tail = time.perf_counter() - t0
            results[compressed] = (statistics.median(times), found, total_lines, disk, tail)
        return files, results


with tempfile.TemporaryDirectory(prefix="svc-logwriter") as d:
    writer, writer_kind = build_writer(d)
    devnull, piped = baseline(writer, d)
    rows = {}
    for rotate in (False, True):
        runs = [one_run(writer, rotate) for _ in range(RUNS)]
        rows[rotate] = runs

files, search = search_bench(GB)

print(f"binary: {os.path.relpath(svc, ROOT)}; writer: {writer_kind}; {RUNS} runs each, median")
print()
print("| 200k lines, one write() per line, until on disk | svc | horust | supervisord | circus | PM2 |")
print("|---|---|---|---|---|---|")
for rotate, label in ((False, "no rotation"), (True, "rotation at 1 MiB, keep 50, gzip")):
    runs = rows[rotate]
    t = statistics.median(r[0] for r in runs)
    print(f"| {label} | {t:.3f} s (min {min(r[0] for r in runs):.3f}, {runs[0][2]} files) | 0.20 s | 0.32 s | 0.29 s | 0.58 s |")
print(f"| (the writer alone: to /dev/null / through a pipe to cat) | {devnull:.3f} s / {piped:.3f} s | | | | |")
print()
print("| daemon, per 100k lines | CPU (user+sys, all threads) | peak RSS of the run |")
print("|---|---|---|")
for rotate, label in ((False, "no rotation"), (True, "rotation + gzip of the rotated files")):
    cpu = statistics.median(r[1] for r in rows[rotate]) / (LINES / 100_000)
    peak = max(r[3] for r in rows[rotate])
    print(f"| {label} | {cpu:.3f} s | {peak / 1024:.1f} MiB |")
print()
print(f"| `svc logs --request-id` over {GB:g} GB of logs ({files} files of 10 MiB) | time | found |")
print("|---|---|---|")
for compressed, label in ((False, "uncompressed (page cache warm)"), (True, "rotated files gzipped")):
    t, found, total, disk, tail = search[compressed]
    print(f"| {label}, {total / 1e6:.1f} M lines, {disk / (1 << 20):.0f} MiB on disk | {t:.2f} s | {found} lines |")
print(f"| `svc logs -n 50` on the same logs | {search[True][4] * 1000:.0f} ms | |")
