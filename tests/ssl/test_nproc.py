"""`pretrain.nproc: 2` from the stage (what `facerep pretrain`, the Prefect task and `dvc repro` run):
the stage re-launches itself under `torchrun --standalone`, two CPU ranks (gloo) train together and
rank 0 writes one backbone and the stage's result."""

from __future__ import annotations

import pytest
import torch

from facerep.params import load_params
from facerep.ssl import launch as launch_module
from facerep.ssl.backbones import load_backbone
from facerep.ssl.stage import output_dir
from facerep.stages import run_stage

DDP = [
    "tracking.enabled=false",
    "pretrain.method=dino",
    "pretrain.backbone=vit_tiny_small",
    "pretrain.dino.crops.local_count=2",
    "pretrain.dino.output_dim=256",
    "pretrain.batch_size=4",
    "pretrain.max_steps=2",
    "pretrain.knn.enabled=false",
]


def test_nproc_2_runs_two_ranks_under_torchrun_and_writes_one_backbone(params_for, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = params_for(*DDP, "pretrain.nproc=2")
    result = run_stage("pretrain", params)
    out = output_dir(params)
    assert result.metrics["steps"] == 2 and result.outputs[1] == out / "backbone.pt"
    ckpt = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["identity"]["world size"] == 2
    assert ckpt["global_batch"] == 8  # 4 images on each of 2 ranks
    assert sorted(p.name for p in out.iterdir()) == ["backbone.pt", "last.ckpt", "metrics.json"]
    load_backbone(out / "backbone.pt")


def test_a_single_process_or_a_torchrun_rank_does_not_relaunch(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launch_module.needs_launch(load_params(None, ["pretrain.nproc=1"]))
    two = load_params(None, ["pretrain.nproc=2"])
    assert launch_module.needs_launch(two)
    monkeypatch.setenv("WORLD_SIZE", "2")  # already a rank: run the stage here
    assert not launch_module.needs_launch(two)


def test_a_failed_torchrun_fails_the_stage(params_for, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    params = params_for(*DDP, "pretrain.nproc=2", "pretrain.data.path=/nonexistent/faces")
    with pytest.raises(launch_module.LaunchError, match=r"pretrain\.nproc=2: torchrun exited with status"):
        run_stage("pretrain", params)
