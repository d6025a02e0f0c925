"""`facerep report` on finetune results written as the finetune stage writes them (chance floor
included) and a pre-training's metrics.json: the report opens with what the run shows in plain
words, and the chance floor is a row of every table. A real MLflow store records the stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facerep.io import write_json
from facerep.params import load_params
from facerep.report.summary import read_summary
from facerep.stages import run_stage

METRIC = {"pose": ("mae", False), "landmarks": ("nme", False), "expression": ("accuracy", True)}


def write_point(results: Path, task: str, init: str, regime: float, mean: float, std: float, seeds: int):
    """One point's metrics.json, in the finetune stage's schema (`init` may be the floor, `chance`)."""
    metric, higher = METRIC[task]
    per_seed = [{metric: mean} for _ in range(seeds)]
    doc = {
        "task": task,
        "dataset": "synthfaces",
        "init": init,
        "regime": regime,
        "mode": "finetune",
        "primary": metric,
        "higher_is_better": higher,
        "mean": {metric: mean},
        "std": {metric: std},
        "per_seed": per_seed,
        "seeds": list(range(seeds)),
        "subset_id": f"items{regime:g}",
        "subset_size": int(1000 * regime),
        "val_size": int(200 * regime),
        "hparams": {"lr": 0.01, "steps": 100 if regime == 1.0 else 50, "backbone_lr_mult": 0.3},
        "search": [],
        "settings": "fixture",
    }
    folder = init.replace(":", "-")
    write_json(results / "finetune" / task / "synthfaces" / folder / f"{regime:g}" / "metrics.json", doc)


POINTS = [  # task, init, regime, mean, std, seeds
    ("pose", "scratch", 0.02, 10.0, 0.3, 3),
    ("pose", "pretrain:swav", 0.02, 8.0, 0.2, 3),
    ("pose", "chance", 0.02, 12.0, 0.0, 1),
    ("pose", "scratch", 1.0, 6.0, 0.2, 3),
    ("pose", "pretrain:swav", 1.0, 5.8, 0.2, 3),
    ("pose", "chance", 1.0, 12.0, 0.0, 1),
    ("landmarks", "scratch", 0.02, 0.36, 0.01, 3),
    ("landmarks", "pretrain:swav", 0.02, 0.40, 0.01, 3),
    ("landmarks", "chance", 0.02, 0.35, 0.0, 1),
    ("landmarks", "scratch", 1.0, 0.35, 0.01, 3),
    ("landmarks", "pretrain:swav", 1.0, 0.34, 0.01, 3),
    ("landmarks", "chance", 1.0, 0.35, 0.0, 1),
    ("expression", "scratch", 0.02, 0.50, 0.02, 3),
    ("expression", "pretrain:swav", 0.02, 0.60, 0.02, 3),
    ("expression", "chance", 0.02, 0.30, 0.0, 1),
    ("expression", "scratch", 1.0, 0.70, 0.02, 3),
    ("expression", "pretrain:swav", 1.0, 0.72, 0.0, 1),
    ("expression", "chance", 1.0, 0.30, 0.0, 1),
]


def test_report_opens_with_what_the_run_shows(tmp_path):
    results, models = tmp_path / "results", tmp_path / "models"
    for p in POINTS:
        write_point(results, *p)
    write_json(models / "pretrain" / "swav" / "metrics.json", {"steps": 60.0, "images_per_s": 25.3})
    params = load_params(
        None,
        [
            f"paths.results={results}",
            f"paths.models={models}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "tracking.system_metrics=false",
            "finetune.image_size=64",
        ],
    )
    result = run_stage("report", params)
    text = (results / "report.md").read_text()
    head = text.split("\n\n")[:4]
    assert head[:2] == ["# facerep report", "## What this run shows"]
    assert head[2].splitlines() == [
        "- At 2% labels, pretrain:swav against scratch: better on 2 of 3 tasks (expression, pose), "
        "worse on 1 (landmarks).",
        "- At 100% labels, pretrain:swav against scratch: better on 0 of 3 tasks, worse on none, "
        "tied on 2 (landmarks, pose), no verdict (one seed) on 1 (expression).",
        "- More labels for scratch (100% against 2%): better on 2 of 3 tasks (expression, pose), "
        "worse on none, tied on 1 (landmarks).",
        "- At chance (not above the floor by more than 2 std): pretrain:swav on landmarks at 2%, 100%; "
        "scratch on landmarks at 2%, 100%.",
        "- Scale: labelled training faces 20 at 2%, 1,000 at 100%; seeds 3 at 2%, 1-3 at 100%; "
        "50-100 fine-tuning steps; 64 px images; whole networks trained (mode finetune); "
        "pre-training swav: 60 steps at 25 images/s.",
    ]
    assert read_summary(results / "report.md") == head[2].splitlines()  # what `facerep demo` prints
    for task in METRIC:
        section = text.split(f"### {task} on synthfaces")[1].split("###")[0]
        assert "| chance (floor) |" in section and "vs chance" not in section
    assert "- scratch at 0.02: at chance (gap to the floor -0.01)" in text
    summary = pd.read_csv(results / "summary.csv")
    assert set(summary.init) == {"scratch", "pretrain:swav", "chance"}
    assert (results / "plots" / "landmarks_synthfaces.png").stat().st_size > 1000
    assert result.metrics["landmarks.chance.0.02"] == 0.35 and (tmp_path / "mlflow.db").is_file()


def test_without_a_floor_the_report_says_so(tmp_path):
    results = tmp_path / "results"
    for p in POINTS:
        if p[1] != "chance":
            write_point(results, *p)
    params = load_params(
        None, [f"paths.results={results}", f"paths.models={tmp_path}", "tracking.enabled=false"]
    )
    run_stage("report", params)
    text = (results / "report.md").read_text()
    assert "- No chance floor in these results (finetune wrote no `chance` points)." in text
    assert "chance (floor)" not in text and "pre-training" not in text
    assert text.splitlines()[4].startswith("- At 2% labels, pretrain:swav against scratch: better on 2")
