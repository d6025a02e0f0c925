"""Shared by tests/downstream and tests/report: SynthFaces rendered by the real synth stage, and small
CPU parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from facerep.params import Params, load_params
from facerep.stages import run_stage


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 SynthFaces faces of 30 people at 64 px (`facerep synth`, faces only)."""
    root = tmp_path_factory.mktemp("synthfaces")
    sets = [f"paths.synth={root}", "tracking.enabled=false", "synth.faces=300", "synth.scenes=0"]
    sets += ["synth.videos=0", "synth.identities=30", "synth.sizes=[64]"]
    run_stage("synth", load_params(None, sets))
    return root


def small_params(tmp_path: Path, synth_root: Path, *sets: str) -> Params:
    """Tiny CPU settings: resnet_tiny, short schedules, a local MLflow SQLite store in tmp_path, and
    faces decoded in-process (at 32-64 px a DataLoader worker costs more than it decodes; the
    stage's workers are tested in test_device.py and test_loaders_streaming.py)."""
    base = [
        f"paths.synth={synth_root}",
        f"paths.results={tmp_path / 'results'}",
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "tracking.system_metrics=false",
        "finetune.backbone=resnet_tiny",
        "finetune.batch_size=16",
        "finetune.heatmap_width=16",
        "finetune.search.steps=[15]",
        "finetune.num_workers=0",
    ]
    return load_params(None, [*base, *sets])
