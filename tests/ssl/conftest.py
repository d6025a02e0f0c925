"""Fixtures for the pretrain tests: 160 SynthFaces faces at 64 px, rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from facerep.params import Params, load_params
from facerep.stages import run_stage


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    sets = [
        f"paths.synth={root}",
        "synth.faces=160",
        "synth.scenes=0",
        "synth.videos=0",
        "synth.sizes=[64]",
        "synth.workers=1",
        "tracking.enabled=false",
    ]
    run_stage("synth", load_params(None, sets))
    return root


@pytest.fixture
def params_for(tmp_path: Path, synth_root: Path):
    """`params_for(*sets, file=None)`: test parameters rooted in this test's tmp_path, with extra `--set`
    items (and a parameter file)."""
    return lambda *sets, file=None: make_params(tmp_path, synth_root, *sets, file=file)


def make_params(tmp_path: Path, synth_root: Path, *sets: str, file: Path | None = None) -> Params:
    """Small CPU parameters for tests: tiny backbone, 64 px, a local MLflow SQLite store in tmp_path;
    `file` is a parameter file under them (the `sets` still win)."""
    base = [
        f"paths.synth={synth_root}",
        "pretrain.data.source=synth_faces",
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "pretrain.backbone=resnet_tiny",
        "pretrain.batch_size=8",
        "pretrain.num_workers=0",
        "pretrain.max_steps=6",
        "pretrain.log_every=1",
        "pretrain.knn.max_train=64",
        "pretrain.knn.max_test=32",
    ]
    return load_params(file, [*base, *sets])
