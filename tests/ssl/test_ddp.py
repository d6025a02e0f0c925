"""A 2-process `torchrun` run on the CPU (gloo) matches a 1-process run with the same global batch.

DINO on a ViT has no batch statistics (LayerNorm, no batch norm in the head for ViTs) and its centre
is averaged over the global batch; data order and augmentation depend on (seed, position) only. So
2 x 4 images per step must give the losses of 1 x 8. (PyTorch's SyncBatchNorm needs CUDA, so batch-norm
methods are compared on GPUs only.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("ddp_worker.py")


def run_worker(nproc: int, out: Path, sets: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_port",
        str(29500 + nproc + os.getpid() % 1000),
        str(WORKER),
        str(out),
        *sets,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_process_run_matches_single_process_with_the_same_global_batch(
    tmp_path: Path, synth_root: Path
) -> None:
    common = [
        f"paths.synth={synth_root}",
        "tracking.enabled=false",
        "pretrain.method=dino",
        "pretrain.backbone=vit_tiny_small",
        "pretrain.dino.crops.local_count=2",
        "pretrain.dino.output_dim=256",
        "pretrain.max_steps=3",
        "pretrain.num_workers=0",
        "pretrain.knn.enabled=false",
    ]
    two = run_worker(
        2, tmp_path / "two.json", [*common, "pretrain.batch_size=4", f"paths.models={tmp_path / 'm2'}"]
    )
    one = run_worker(
        1, tmp_path / "one.json", [*common, "pretrain.batch_size=8", f"paths.models={tmp_path / 'm1'}"]
    )
    assert two["world"] == 2 and one["world"] == 1
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4)
    assert (tmp_path / "m2" / "pretrain" / "dino" / "backbone.pt").is_file()
