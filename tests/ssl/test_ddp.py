"""A 2-process `torchrun` run on the CPU (gloo): both ranks keep the same weights (DDP averages the
gradients of their different images), and a run resumed from a mid-run checkpoint repeats the
uninterrupted losses (each rank's data position is part of the checkpoint). DINO on a ViT: no batch
statistics, which gloo processes could not synchronise (PyTorch's SyncBatchNorm needs CUDA)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("ddp_worker.py")


def run_worker(out: Path, sets: list[str], copy_to: Path | None = None) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29600 + os.getpid() % 1000),
        str(WORKER),
        str(out),
        *sets,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COPY_CHECKPOINT": str(copy_to or "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(Path(f"{out}.{r}.json").read_text()) for r in (0, 1)]


def test_two_process_run_keeps_ranks_in_step_and_resumes_exactly(tmp_path: Path, synth_root: Path) -> None:
    common = [
        f"paths.synth={synth_root}",
        "tracking.enabled=false",
        "pretrain.data.source=synth_faces",
        "pretrain.method=dino",
        "pretrain.backbone=vit_tiny_small",
        "pretrain.dino.crops.local_count=2",
        "pretrain.dino.output_dim=256",
        "pretrain.batch_size=4",
        "pretrain.num_workers=0",
        "pretrain.checkpoint_every=2",
        "pretrain.log_every=1",
        "pretrain.max_steps=4",
        "pretrain.knn.enabled=false",
    ]
    whole = run_worker(tmp_path / "whole", [*common, f"paths.models={tmp_path / 'a'}"], tmp_path / "b")
    assert [r["world"] for r in whole] == [2, 2] and len(whole[0]["losses"]) == 4
    assert whole[0]["losses"] == whole[1]["losses"]  # the loss is averaged over ranks
    assert whole[0]["weights"] == whole[1]["weights"]
    resumed = run_worker(tmp_path / "rest", [*common, f"paths.models={tmp_path / 'b'}"])  # from step 2
    assert len(resumed[0]["losses"]) == 2
    np.testing.assert_allclose(resumed[0]["losses"], whole[0]["losses"][2:], rtol=1e-5)
    assert (tmp_path / "b" / "pretrain" / "dino" / "backbone.pt").is_file()
