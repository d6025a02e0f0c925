"""`facerep pretrain` as a stage: outputs, loss components in a real MLflow store, resuming one run."""

from __future__ import annotations

import json
import re

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from facerep.errors import InputError
from facerep.ssl.backbones import load_backbone
from facerep.ssl.stage import output_dir, resume_run_id
from facerep.ssl.stage import run as run_pretrain
from facerep.stages import run_stage
from facerep.tracking import stage_run

FAST = [
    "pretrain.method=swav",
    "pretrain.swav.crops.local_count=2",
    "pretrain.swav.prototypes=50",
    "pretrain.swav.freeze_prototypes_steps=1",
]


def test_stage_writes_outputs_logs_components_and_resumes_the_same_mlflow_run(
    params_for, killed_after_checkpoint
) -> None:
    """A 4-step run killed after its step-2 checkpoint; the re-run continues it and its MLflow run."""
    first = params_for(*FAST, "pretrain.max_steps=4", "pretrain.checkpoint_every=2")
    with killed_after_checkpoint(2):
        run_stage("pretrain", first)
    out = output_dir(first)
    assert not (out / "metrics.json").exists()

    run_id = resume_run_id(first)
    assert run_id is not None
    mlflow.set_tracking_uri(first.tracking.uri)
    client = MlflowClient()
    history = client.get_metric_history(run_id, "loss_swav")
    assert [m.step for m in history] == [1, 2]
    for key in ("loss", "lr", "images_per_s"):
        assert client.get_metric_history(run_id, key), key

    with stage_run(first, "pretrain", run_id=resume_run_id(first)) as tracker:
        assert tracker.run_id == run_id
        result = run_pretrain(first, tracker)
    assert [m.step for m in client.get_metric_history(run_id, "loss_swav")] == [1, 2, 3, 4]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["method"] == "swav" and 0 <= metrics["knn_accuracy"] <= 1
    assert result.metrics["final_loss"] == pytest.approx(metrics["final_loss"])
    assert load_backbone(out / "backbone.pt").arch == "resnet_tiny"
    assert client.get_metric_history(run_id, "knn_accuracy")
    registered = client.get_model_version_by_alias("facerep-backbone", "swav")
    assert registered.run_id == run_id and int(registered.version) == 1  # the killed run registered none
    assert registered.source.startswith("models:/")  # an MLflow PyTorch model (docs/orchestration.md)


def test_unknown_method_is_an_input_error(params_for) -> None:
    """Caught when the parameters load, before any stage starts, naming the choices."""
    with pytest.raises(InputError, match=r"`pretrain\.method`: unknown name 'nope'; choose one of .*swav"):
        params_for("pretrain.method=nope", "tracking.enabled=false")


def test_pretrain_shows_its_steps_and_loss_on_a_terminal(params_for) -> None:
    """On a terminal a bar counts the steps with the last loss; it is transient (the stage's one
    line is what stays)."""
    import io

    import rich

    screen = io.StringIO()
    rich.reconfigure(file=screen, force_terminal=True, force_interactive=True, width=160)
    try:
        run_stage("pretrain", params_for(*FAST, "pretrain.max_steps=3", "tracking.enabled=false"))
    finally:
        rich.reconfigure()
    shown = screen.getvalue()
    assert "pretrain swav" in shown and "3/3" in shown, shown
    assert re.search(r"loss \d+\.\d{3}", shown), shown
