"""2 epochs x 2 data workers x 2 real torch.distributed (gloo) ranks over an uneven shard count: every
face exactly once per epoch, equal batch counts (no rank left waiting), a new order each epoch."""

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


def test_two_gloo_ranks_with_two_workers_read_each_face_once_per_epoch(tmp_path):
    make_pipeline_outputs(tmp_path, 24)
    sets = [f"paths.{k}={tmp_path / k}" for k in ("raw", "faces", "curated", "shards")]
    run(load_params(None, [*sets, "tracking.enabled=false", "shard.max_count=5"]), Tracker(None))
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    assert [e["count"] for e in index["shards"]] == [5, 5, 5, 5, 4]
    per_epoch = 24 // (2 * 3)
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
                str(2 * per_epoch),
                str(tmp_path / f"r{r}.json"),
            ]
        )
        for r in (0, 1)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    results = [json.loads((tmp_path / f"r{r}.json").read_text()) for r in (0, 1)]
    assert all(r["per_epoch"] == per_epoch and len(r["batches"]) == 2 * per_epoch for r in results)
    orders = []
    for epoch in (0, 1):
        keys = [k for r in results for b in r["batches"] if b["epoch"] == epoch for k in b["keys"]]
        assert sorted(keys) == [f"f{i:04d}" for i in range(24)]
        orders.append([k for b in results[0]["batches"] if b["epoch"] == epoch for k in b["keys"]])
    assert orders[0] != orders[1]
