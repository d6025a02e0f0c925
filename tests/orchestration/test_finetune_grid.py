"""The finetune grid inside the pretrain-and-eval flow: one Prefect task per point (the chance floors
among them), run concurrently, each point an MLflow run nested under the finetune stage run of the
flow's parent run, and the same numbers as the sequential `facerep finetune`."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from orch_project import grid_project
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from facerep.params import load_params
from facerep.stages import run_stage


def _per_seed(results: Path) -> dict[str, list]:
    docs = sorted((results / "finetune").glob("*/synthfaces/*/*/metrics.json"))
    return {str(p.relative_to(results)): json.loads(p.read_text())["per_seed"] for p in docs}


def test_flow_maps_points_concurrently_with_nested_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pretrain_and_eval import pretrain_and_eval

    project = grid_project(tmp_path / "proj")
    monkeypatch.chdir(project)

    state = pretrain_and_eval(stages=["finetune"], record_dvc=False, return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    points = [t for t in task_runs if t.name.startswith("finetune [")]
    assert len(points) == 2 * 3 * 2  # tasks x inits (chance, scratch, pretrain:swav) x regimes
    assert all(t.state.is_completed() for t in points)
    others = sorted(t.name.rsplit("-", 1)[0] for t in task_runs if t not in points)
    assert others == ["finetune", "finetune-plan"]  # Prefect names task runs <task>-<suffix>

    client = mlflow.MlflowClient(f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("facerep").experiment_id])
    by_id = {r.info.run_id: r for r in runs}
    (stage,) = [r for r in runs if r.data.tags.get("facerep.stage") == "finetune"]
    parent = by_id[stage.data.tags["mlflow.parentRunId"]]
    assert parent.data.tags["facerep.pipeline"] == "pretrain-and-eval"
    children = [r for r in runs if r.data.tags.get("facerep.stage") == "finetune-point"]
    assert len(children) == 12 and {r.data.tags["mlflow.parentRunId"] for r in children} == {
        stage.info.run_id
    }
    pose = [r for r in children if r.data.tags["facerep.finetune.point"] == "pose/pretrain-swav/1"]
    assert pose[0].data.params["init"] == "pretrain:swav" and pose[0].data.metrics["mae"] > 0
    assert stage.data.metrics["finetune.points"] == 12

    sequential = ["tracking.enabled=false", f"paths.results={tmp_path / 'seq'}"]
    run_stage("finetune", load_params("pipeline_params.yaml", sequential))
    assert _per_seed(tmp_path / "seq") == _per_seed(project / "results")
