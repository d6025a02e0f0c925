"""Two real torch.distributed (gloo) ranks over an uneven shard count: same batch count, no hang."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shard_data import make_pipeline_outputs

from facerep.params import load_params
from facerep.shards.stage import run
from facerep.tracking import Tracker

RANK_SCRIPT = Path(__file__).with_name("ddp_rank.py")


def test_two_gloo_ranks_step_together(tmp_path):
    make_pipeline_outputs(tmp_path, 17)
    sets = [f"paths.{k}={tmp_path / k}" for k in ("raw", "faces", "curated", "shards")]
    run(load_params(None, [*sets, "tracking.enabled=false", "shard.max_count=4"]), Tracker(None))
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    assert len(index["shards"]) == 5  # 3 shards for rank 0, 2 for rank 1
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(RANK_SCRIPT),
                str(r),
                "2",
                init,
                str(tmp_path / "shards"),
                str(tmp_path / f"r{r}.json"),
            ]
        )
        for r in (0, 1)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    results = [json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1)]
    assert results[0]["world"] == 2
    assert results[0]["batches"] == results[1]["batches"] == 17 // (2 * 3)
    assert not set(results[0]["keys"][:6]) & set(results[1]["keys"][:6])
