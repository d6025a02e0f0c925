"""Each face method's exported backbone fine-tunes in the finetune stage (issue: face methods)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from facerep.params import load_params
from facerep.stages import run_stage

from .conftest import make_params


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 real SynthFaces faces of 10 people at 64 px, with every label the finetune stage reads."""
    root = tmp_path_factory.mktemp("synthfaces")
    sets = [f"paths.synth={root}", "tracking.enabled=false", "synth.faces=60", "synth.scenes=0"]
    sets += ["synth.videos=0", "synth.identities=10", "synth.sizes=[64]"]
    run_stage("synth", load_params(None, sets))
    return root


@pytest.mark.parametrize("method", ["pros", "fra", "pcl", "simfle"])
def test_exported_backbone_fine_tunes(tmp_path: Path, rendered: Path, method: str) -> None:
    finetune = [
        f"paths.results={tmp_path / 'results'}",
        "finetune.tasks=[expression]",
        "finetune.regimes=[1.0]",
        "finetune.seeds=1",
        f"finetune.inits=[pretrain:{method}]",
        "finetune.search.enabled=false",
        "finetune.search.steps=[5]",
    ]
    params = make_params(tmp_path, rendered, method, "pretrain.max_steps=1", *finetune)
    run_stage("pretrain", params)
    run_stage("finetune", params)
    found = (tmp_path / "results" / "finetune" / "expression").rglob("metrics.json")
    (metrics_file,) = [f for f in found if f"pretrain-{method}" in f.parts]  # beside the chance floor's
    doc = json.loads(metrics_file.read_text())
    assert 0.0 <= doc["mean"]["accuracy"] <= 1.0 and math.isfinite(doc["mean"]["accuracy"])
