"""What the Python benches read of a running daemon: its children, its memory, a log's tail.
Imported by benches/logs.py, benches/logs_supervisord.py and benches/supervisor.py (the script's
folder is on Python's path when it runs)."""
import os


def children(pid):
    """The pids of every child of `pid` (all its threads')."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def memory_kib(pid):
    """RSS and PSS of one process, in KiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def tail_has(path, needle, size=4096):
    """Whether the last `size` bytes of the file hold `needle` (False while it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - size))
            return needle in f.read()
    except OSError:
        return False
