"""`bench/bench_gpu.py` without a GPU: the dry run runs every path at tiny size on the CPU and exits 0.

A path that raises shows "failed: ..." in its row; the test rejects that, so a path that breaks (an
API of the engine, a detector or the embedder changed under it) fails here rather than on a lent GPU.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PATHS = [
    "swav pretrain step",
    "swav pretrain step, torch.compile",
    "loader (swav views)",
    "dino pretrain step",
    "dino pretrain step, torch.compile",
    "loader (dino views)",
    "detection mobilenet batch 1",
    "detection mobilenet batch 32",
    "detection r50 batch 1",
    "detection r50 batch 32",
    "arcface embedding",
    "finetune",
]
MAY_BE_SKIPPED_ON_CPU = {"swav pretrain step, torch.compile", "dino pretrain step, torch.compile"}


def table_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """path -> (images/s cell, what-was-measured cell) from the printed markdown table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("path", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script measures and writes gpu.md")
def test_dry_run_runs_every_path_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no GPU: dry run" in proc.stdout
    assert not out.exists(), "the dry run must write nothing"
    rows = table_rows(proc.stdout)
    assert sorted(rows) == sorted(PATHS), proc.stdout
    for path, (rate, what) in rows.items():
        assert "failed:" not in what, f"{path}: {what}\n{proc.stderr[-3000:]}"
        number = re.fullmatch(r"(\d+(?:\.\d+)?)(?: faces/s)?", rate)
        if number:
            assert float(number.group(1)) > 0, f"{path}: {rate}"
        else:
            assert path in MAY_BE_SKIPPED_ON_CPU and rate == "not measured" and len(what) > 20, (
                path,
                rate,
                what,
            )
    assert "loader / fastest step" in proc.stdout
