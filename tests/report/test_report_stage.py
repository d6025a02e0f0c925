"""`facerep finetune` then `facerep report` through the stage registry on SynthFaces-layout faces:
metrics.json per point, saved subsets reused on a re-run, the tables, the plot, a real MLflow store."""

from __future__ import annotations

import json

import pandas as pd
import torch
from downstream_fixtures import small_params

from facerep.ssl.backbones import build_backbone, save_backbone
from facerep.stages import run_stage


def test_finetune_then_report(tmp_path, synth_root):
    torch.manual_seed(1)
    swav = build_backbone("resnet_tiny")
    save_backbone(swav, tmp_path / "models" / "pretrain" / "swav" / "backbone.pt", {"method": "swav"})
    params = small_params(
        tmp_path,
        synth_root,
        "finetune.tasks=[expression, attributes, landmarks, au, recognition, pose, valence_arousal]",
        "finetune.image_size=32",
        "finetune.regimes=[0.1, 1.0]",
        "finetune.seeds=2",
        "finetune.max_train=120",
        "finetune.search.lr=[0.001, 0.01]",
        "finetune.search.steps=[10]",
    )
    result = run_stage("finetune", params)
    results = tmp_path / "results"
    # the chance floor's points (the finetune stage's pseudo-init `chance`) are the report's floor rows
    points = [
        p for p in (results / "finetune").glob("*/synthfaces/*/*/metrics.json") if p.parts[-3] != "chance"
    ]
    assert len(points) == 7 * 2 * 2  # tasks x inits (scratch + found pretrain:swav) x regimes
    doc = json.loads((results / "finetune/landmarks/synthfaces/pretrain-swav/0.1/metrics.json").read_text())
    assert doc["seeds"] == [0, 1] and len(doc["per_seed"]) == 2 and len(doc["search"]) == 2
    assert {"nme", "fr10", "auc10"} <= set(doc["mean"]) and doc["hparams"]["lr"] in (0.001, 0.01)
    folder = results / "splits" / "synthfaces"
    splits = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.json"))
    assert splits == [  # recognition's subsets are drawn from its identity-disjoint split
        "identity_disjoint/ids_frac0.1_seed0.json",
        "identity_disjoint/ids_frac1_seed0.json",
        "items_frac0.1_seed0.json",
        "items_frac1_seed0.json",
    ]
    saved = (results / "splits/synthfaces/items_frac0.1_seed0.json").read_text()
    assert json.loads(saved)["id"] == doc["subset_id"]

    again = run_stage("finetune", params)  # finished points are skipped, subsets reused
    timeless = {k: v for k, v in result.metrics.items() if k != "finetune.seconds"}
    assert {k: v for k, v in again.metrics.items() if k != "finetune.seconds"} == timeless
    assert again.outputs == result.outputs
    assert (results / "splits/synthfaces/items_frac0.1_seed0.json").read_text() == saved

    report = run_stage("report", params)
    text = (results / "report.md").read_text()
    for task in ("expression", "attributes", "landmarks", "au", "recognition", "pose", "valence_arousal"):
        assert f"### {task} on synthfaces" in text
        assert (results / "plots" / f"{task}_synthfaces.png").stat().st_size > 1000
    assert "pretrain:swav vs scratch at 0.1" in text and "±" in text
    summary = pd.read_csv(results / "summary.csv")
    inits = summary[summary.init != "chance"]
    assert set(inits.init) == {"scratch", "pretrain:swav"} and inits["primary"].sum() == 28
    assert report.metrics and (tmp_path / "mlflow.db").is_file()
