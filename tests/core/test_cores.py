"""Worker counts default to the cores this process may use: its CPU affinity, not the machine's count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from facerep.cores import available_cores, resolve_workers
from facerep.params import Params


def test_null_workers_are_the_available_cores() -> None:
    params = Params()
    for section in (params.synth, params.detect, params.curate):
        assert section.workers is None
        assert resolve_workers(section.workers) == available_cores() >= 1
    assert resolve_workers(3) == 3


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_a_process_pinned_to_one_core_uses_one_worker() -> None:
    """As under `taskset -c 0` or a one-CPU cpuset: the machine may have more cores, the job has one."""
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
        "from facerep.cores import resolve_workers; print(resolve_workers(None))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
