"""A shard writer killed with SIGKILL leaves no visible partial shard; a re-run completes the same set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time

from shard_data import make_pipeline_outputs

from facerep.shards.stage import run
from facerep.tracking import Tracker


def test_sigkill_while_writing_then_rerun(tmp_path, params_for):
    make_pipeline_outputs(tmp_path, 12)
    blocked = tmp_path / "faces" / "crops" / "f0007.jpg"
    data = blocked.read_bytes()
    blocked.unlink()
    os.mkfifo(blocked)  # reading it blocks: the writer is caught in the middle of a shard
    out = tmp_path / "shards"
    sets = [f"paths.{k}={tmp_path / k}" for k in ("raw", "faces", "curated", "shards")]
    cmd = [
        sys.executable,
        "-m",
        "facerep",
        "shard",
        "--set",
        "shard.max_count=4",
        "--set",
        "tracking.enabled=false",
    ]
    proc = subprocess.Popen([*cmd, *(a for s in sets for a in ("--set", s))], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".shard-*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert list(out.glob(".shard-*.tmp")), "the writer never started a shard"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "index.json").exists()
    for path in out.glob("*.tar"):
        with tarfile.open(path) as tar:
            assert len(tar.getnames()) == 8, f"{path.name} is a partial shard"
    visible_before = {p.name for p in out.glob("*.tar")}

    blocked.unlink()
    blocked.write_bytes(data)
    rerun = run(params_for("shard.max_count=4"), Tracker(None))
    assert not list(out.glob(".shard-*.tmp"))
    assert rerun.metrics["shards_skipped"] == len(visible_before)

    clean = tmp_path / "clean"
    clean.mkdir()
    make_pipeline_outputs(clean, 12)
    run(params_for("shard.max_count=4", root=clean), Tracker(None))
    assert (clean / "shards" / "index.json").read_text() == (out / "index.json").read_text()
