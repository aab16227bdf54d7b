"""Resource figures of a running process from /proc, and of the current one from getrusage."""

from __future__ import annotations

import os
import resource
import time

_TICK = os.sysconf("SC_CLK_TCK")
# A copy of the original stdout: Faust's worker redirects sys.stdout into its logger.
_MARKS = os.fdopen(os.dup(1), "w", buffering=1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size, MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def mark(label: str, count: int = 0) -> None:
    """Print a progress line the harness parses: LABEL wall cpu peak_rss_mb count."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime
    print(
        f"{label} {time.time():.6f} {cpu:.6f} {ru.ru_maxrss / 1024:.1f} {count}",
        file=_MARKS,
    )


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
