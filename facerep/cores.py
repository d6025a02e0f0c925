"""How many cores this process may use, and the worker counts derived from it.

Every stage that decodes or computes takes a worker count as a parameter whose default (null) is the
cores available, so the same params file uses 2 cores on a laptop and 64 on a server. "Available" is
the process's CPU affinity (`taskset`, a container's or a scheduler's cpuset), not the machine's
count, which over-subscribes a job given a slice of a large node.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """A stage's worker count: as set, or the cores available when null."""
    return workers if workers is not None else available_cores()
