"""A benchmark's processes and the machine they share: how many files a process may open, and
how busy the machine is (from /proc, as the kernel counts it), since other work on it shows
up in every timing."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path


def raise_nofile(wanted: int) -> int:
    """Let this process open ``wanted`` files: past the hard limit only as root, and never
    past the kernel's ``nr_open``. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted
    with contextlib.suppress(OSError, ValueError):
        target = min(wanted, int(Path("/proc/sys/fs/nr_open").read_text()))
    if hard != resource.RLIM_INFINITY and target > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target
        except (ValueError, PermissionError):
            target = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    return max(soft, target)


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (every core, every process,
    the kernel), to tell how much of a run's CPU went to other processes."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait_s: float, busy_below: float = 0.1) -> float:
    """Wait (at most ``max_wait_s``) for a second in which the machine is mostly idle, so that
    a timing is not of other work's noise; the busy fraction of the last second seen."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy, started = machine_cpu_s(), time.monotonic()
        time.sleep(1.0)
        fraction = (machine_cpu_s() - busy) / ((time.monotonic() - started) * (os.cpu_count() or 1))
        if fraction < busy_below or time.monotonic() > deadline:
            return round(fraction, 2)
