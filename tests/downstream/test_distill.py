"""Self-distillation (Bulat 3.5): the per-task loss on teacher outputs, students that never read the
unlabelled faces' labels, and the finetune stage saving distilled metrics only where it applies."""

from __future__ import annotations

import json
import math

import mlflow
import numpy as np
import pytest
import torch
from downstream_fixtures import small_params

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import load_dataset
from facerep.downstream.distill import applies, distill
from facerep.downstream.heatmaps import render
from facerep.downstream.tasks import make_task
from facerep.downstream.train import HParams, TrainSpec, encode, evaluate, fit
from facerep.report.tables import collect
from facerep.ssl.backbones import build_backbone, save_backbone
from facerep.stages import run_stage


def test_distill_loss_per_task_by_hand():
    out, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(3.0)]])
    # expression: soft targets softmax(teacher) = (1/4, 3/4); -sum p log softmax(out) = log(1 + e) - 1/4
    expected = math.log(1 + math.e) - 0.25
    assert make_task("expression").distill_loss(out, teacher).item() == pytest.approx(expected)
    # attributes: target sigmoid(log 3) = 3/4, logit 0: -(3/4 log 1/2 + 1/4 log 1/2) = log 2
    logit = torch.zeros(1, 1)
    assert make_task("attributes").distill_loss(logit, torch.full((1, 1), math.log(3.0))).item() == (
        pytest.approx(math.log(2))
    )
    # AU: L2 on the teacher's intensities; pose: smooth L1 (beta 0.05) on its outputs
    au = make_task("au").distill_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]]))
    assert au.item() == pytest.approx((1 + 4) / 2)
    pose = make_task("pose").distill_loss(torch.tensor([[0.5, 0.0, 0.01]]), torch.zeros(1, 3))
    assert pose.item() == pytest.approx(((0.5 - 0.025) + 0.0 + 0.5 * 0.01**2 / 0.05) / 3)
    # landmarks: pixel-wise L2 on heatmaps, the task loss when the teacher's heatmaps are the rendered labels
    task = make_task("landmarks")  # sigma 1
    points = torch.tensor([[[0.3, 0.4], [0.7, 0.6]]])
    student = torch.randn(1, 2, 16, 16)
    hand = ((student - render(points, 16, 16, 1.0)) ** 2).mean().item() * 100
    assert task.distill_loss(student, render(points, 16, 16, 1.0)).item() == pytest.approx(hand, rel=1e-5)
    assert task.loss(student, points).item() == pytest.approx(hand, rel=1e-5)
    # valence/arousal: RMSE + (1 - CCC) on the values, soft cross-entropy on the expression logits
    va_out = torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    va_teacher = torch.tensor([[0.0, 0.0, 0.0, math.log(3.0)], [1.0, 1.0, 0.0, math.log(3.0)]])
    expected = math.sqrt(1e-8) + 0.0 + (math.log(1 + math.e) - 0.25)
    assert make_task("valence_arousal").distill_loss(va_out, va_teacher).item() == (
        pytest.approx(expected, abs=1e-6)
    )
    with pytest.raises(ValueError, match="identity is unknown"):
        make_task("recognition").distill_loss(out, teacher)


class Sealed(dict):
    """Labels no one may read: every access fails the test."""

    def _read(self, *args: object) -> None:
        raise AssertionError("an unlabelled face's label was read")

    __getitem__ = get = items = values = keys = __iter__ = __contains__ = _read


@pytest.fixture(scope="module")
def faces(synth_root) -> TaskData:
    return load_dataset("synthfaces", synth_root, 32, 80, 40)


def _state(model: torch.nn.Module) -> list[torch.Tensor]:
    return [v.clone() for v in model.state_dict().values()]


@pytest.mark.parametrize("mult", [0.1, 0.0])
def test_student_never_reads_unlabelled_labels_and_learns_from_its_teacher(faces, mult):
    """Fine-tuned (0.1) and frozen-probe (0.0) students; expression, so soft targets are exercised."""
    task = make_task("expression")
    torch.manual_seed(3)
    init = build_backbone("resnet_tiny")
    labeled, unlabeled = faces.train.take(np.arange(12)), faces.train.take(np.arange(12, len(faces.train)))
    hp = HParams(lr=0.01, steps=12, backbone_lr_mult=mult)
    spec = TrainSpec(batch_size=8, weight_decay=1e-4, distill_rounds=1, unlabeled_weight=1.0)
    teacher = fit(task, init, faces, labeled, hp, spec, seed=0)

    def student(split: Split, **features: object) -> torch.nn.Module:
        return distill(task, teacher, init, faces, labeled, split, hp, spec, seed=0, **features)

    clean = student(unlabeled)
    nan = {k: np.full(v.shape, np.nan) for k, v in unlabeled.labels.items()}
    for garbage in (
        Split(unlabeled.images, nan, unlabeled.keys),
        Split(unlabeled.images, Sealed(), unlabeled.keys),
    ):
        assert all(torch.equal(a, b) for a, b in zip(_state(clean), _state(student(garbage)), strict=True))
    if mult == 0:  # cached frozen features, as the stage passes them, give the same student
        given = {
            "labeled_features": encode(init, labeled.images, False),
            "unlabeled_features": encode(init, unlabeled.images, False),
        }
        assert torch.equal(clean.head.fc.weight, student(unlabeled, **given).head.fc.weight)
    else:
        assert clean.backbone is not init and clean.backbone is not teacher.backbone
    assert not torch.equal(clean.predict(faces.test), teacher.predict(faces.test))
    metrics = evaluate(clean, faces.test, faces)
    assert np.isfinite(metrics["accuracy"]) and np.isfinite(metrics["mean_class_accuracy"])


def test_distillation_applies_only_to_fine_tuned_pretrained_low_label_points(tmp_path, synth_root):
    on = small_params(tmp_path, synth_root, "finetune.mode=finetune", "finetune.distill.rounds=2")
    expression = make_task("expression")
    assert applies(on.finetune, expression, "pretrain:swav", 0.1)
    assert applies(on.finetune, expression, "imagenet", 0.02)
    assert not applies(on.finetune, expression, "scratch", 0.1)
    assert not applies(on.finetune, expression, "pretrain:swav", 1.0)
    assert not applies(on.finetune, make_task("recognition"), "pretrain:swav", 0.1)
    linear = small_params(tmp_path, synth_root, "finetune.mode=linear", "finetune.distill.rounds=2")
    assert not applies(linear.finetune, expression, "pretrain:swav", 0.1)
    off = small_params(tmp_path, synth_root, "finetune.mode=finetune")
    assert off.finetune.distill.rounds == 0
    assert not applies(off.finetune, expression, "pretrain:swav", 0.1)


def test_stage_writes_distilled_metrics_only_where_it_applies(tmp_path, synth_root):
    torch.manual_seed(3)
    save_backbone(
        build_backbone("resnet_tiny"), tmp_path / "models/pretrain/swav/backbone.pt", {"method": "swav"}
    )
    base = [
        f"paths.models={tmp_path / 'models'}",
        "finetune.mode=finetune",
        "finetune.image_size=32",
        "finetune.max_train=80",
        "finetune.max_test=40",
        "finetune.search.lr=[0.01]",
        "finetune.search.steps=[10]",
        "finetune.seeds=2",
    ]
    grid = ["finetune.tasks=[expression, recognition]", "finetune.inits=[scratch, 'pretrain:swav']"]
    grid.append("finetune.regimes=[0.1, 1.0]")
    run_stage("finetune", small_params(tmp_path / "a", synth_root, *base, *grid, "finetune.distill.rounds=1"))
    plain = ["finetune.tasks=[expression]", "finetune.inits=['pretrain:swav']", "finetune.regimes=[0.1]"]
    run_stage("finetune", small_params(tmp_path / "b", synth_root, *base, *plain))
    points = sorted((tmp_path / "a/results/finetune").glob("*/synthfaces/*/*/metrics.json"))
    docs = {
        p.relative_to(tmp_path / "a/results/finetune").parent.as_posix(): json.loads(p.read_text())
        for p in points
    }
    assert len([n for n in docs if "/chance/" not in n]) == 8  # 2 tasks x 2 inits x 2 regimes
    assert len([n for n in docs if "/chance/" in n]) == 4  # the chance floor of each (task, regime)
    distilled = {name for name, doc in docs.items() if "mean_distilled" in doc}
    assert distilled == {"expression/synthfaces/pretrain-swav/0.1"}
    doc = docs["expression/synthfaces/pretrain-swav/0.1"]
    assert len(doc["per_seed_distilled"]) == 2 and np.isfinite(doc["mean_distilled"]["accuracy"])
    assert set(doc["std_distilled"]) == set(doc["std"])
    assert all(
        "per_seed_distilled" not in d and "std_distilled" not in d
        for n, d in docs.items()
        if n not in distilled
    )
    without = json.loads(
        (tmp_path / "b/results/finetune/expression/synthfaces/pretrain-swav/0.1/metrics.json").read_text()
    )
    assert doc["per_seed"] == without["per_seed"] and doc["hparams"] == without["hparams"]

    table = collect(tmp_path / "a/results")  # the report shows the students as their own init
    students = table[(table.init == "pretrain:swav+distill") & table.primary]
    assert students[["task", "regime"]].values.tolist() == [["expression", 0.1]]
    assert students["mean"].iloc[0] == doc["mean_distilled"]["accuracy"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'a/mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name("facerep").experiment_id],
        filter_string="tags.`facerep.finetune.point` = 'expression/pretrain-swav/0.1'",
    )
    assert runs[0].data.metrics["distilled_accuracy"] == doc["mean_distilled"]["accuracy"]
