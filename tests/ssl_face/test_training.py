"""Longer CPU runs through `facerep pretrain`: the loss of every face method falls on drawn faces."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from facerep.stages import run_stage

from .conftest import make_params

STEPS = 24


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pros", "fra", "pcl", "simfle"])
def test_loss_falls(tmp_path: Path, synth_root: Path, method: str) -> None:
    params = make_params(tmp_path, synth_root, method, f"pretrain.max_steps={STEPS}")
    run_stage("pretrain", params)
    ckpt = torch.load(tmp_path / "models" / "pretrain" / method / "last.ckpt", weights_only=False)
    mlflow.set_tracking_uri(params.tracking.uri)
    history = mlflow.MlflowClient().get_metric_history(ckpt["mlflow_run_id"], "loss")
    losses = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert len(losses) == STEPS
    assert np.mean(losses[-6:]) < np.mean(losses[:6])
