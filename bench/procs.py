"""What the benches read about processes from /proc: CPU time and memory of a process, a process group, or a
process and its children (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat after the process name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) ... rss(21)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of one process (0 once it is gone)."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def _all() -> list[tuple[int, list[str]]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(entry.name)
            if fields:
                out.append((int(entry.name), fields))
    return out


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (e.g. PostgreSQL's backends under its postmaster)."""
    return [child for child, fields in _all() if int(fields[1]) == pid]


def group_usage(pgid: int | None) -> tuple[float, float]:
    """(CPU seconds, resident MiB) of every live process in a process group (a Rasa server starts its own)."""
    if not pgid:
        return 0.0, 0.0
    cpu = rss = 0.0
    for _, fields in _all():
        if int(fields[2]) == pgid:
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            rss += int(fields[21]) * PAGE / 2**20
    return cpu, rss


def pin_process(pid: int, cores: set[int]) -> None:
    """Run every thread of a process (and the threads and processes it starts later) on ``cores`` only."""
    tasks = Path(f"/proc/{pid}/task")
    for task in (tasks.iterdir() if tasks.is_dir() else ()):
        try:
            os.sched_setaffinity(int(task.name), cores)
        except OSError:
            pass  # a thread that just ended


def pin_group(pgid: int, cores: set[int]) -> None:
    """``pin_process`` for every process of a group (a Rasa server and what it started)."""
    for pid, fields in _all():
        if int(fields[2]) == pgid:
            pin_process(pid, cores)
