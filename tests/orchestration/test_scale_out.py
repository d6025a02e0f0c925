"""Scale-out paths on this machine: data stages on a Dask cluster, MLflow behind a tracking server."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from orch_project import BIN, grid_project, make_project
from orch_servers import background, free_port, wait_http

from facerep.params import load_params
from facerep.stages import run_stage

TINY_DATA = ["synth.faces=6", "synth.scenes=2", "synth.videos=0", "synth.identities=4"]


def test_data_stages_run_on_a_local_dask_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build-dataset with a DaskTaskRunner (2 worker processes on 127.0.0.1): synth then harvest."""
    from flows.build_dataset import build_dataset
    from flows.scale import on_dask

    project = make_project(tmp_path / "proj", [*TINY_DATA, "tracking.enabled=false"], dvc=False)
    monkeypatch.chdir(project)
    outputs = on_dask(build_dataset, n_workers=2)(stages=["synth", "harvest"], record_dvc=False)
    assert list(outputs) == ["synth", "harvest"]
    manifest = pd.read_parquet(project / "data/raw/manifest.parquet")
    assert len(manifest) == 2 and (manifest["status"] == "ok").all()


def test_finetune_grid_runs_on_a_local_dask_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pretrain-and-eval's finetune grid with its point tasks on 2 Dask worker processes: every point
    done, and each point's MLflow run nested under the stage run, itself under the flow's run."""
    from flows.pretrain_and_eval import pretrain_and_eval
    from flows.scale import on_dask

    project = grid_project(tmp_path / "proj")
    monkeypatch.chdir(project)
    outputs = on_dask(pretrain_and_eval, n_workers=2)(stages=["finetune"], record_dvc=False)
    client = mlflow.MlflowClient(f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("facerep").experiment_id])
    by_id = {r.info.run_id: r for r in runs}
    (stage,) = [r for r in runs if r.data.tags.get("facerep.stage") == "finetune"]
    assert by_id[stage.data.tags["mlflow.parentRunId"]].data.tags["facerep.pipeline"] == "pretrain-and-eval"
    points = [r for r in runs if r.data.tags.get("facerep.stage") == "finetune-point"]
    assert len(points) == outputs["finetune"]["metrics"]["finetune.points"] >= 8
    assert {r.data.tags["mlflow.parentRunId"] for r in points} == {stage.info.run_id}


def test_stage_logs_to_an_mlflow_tracking_server(tmp_path: Path) -> None:
    """`mlflow server` with a SQLite database backend on 127.0.0.1; a stage run lands there."""
    port = free_port()
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += [
        "--backend-store-uri",
        f"sqlite:///{tmp_path}/server.db",
        "--artifacts-destination",
        str(tmp_path / "art"),
    ]
    with background(cmd, tmp_path, {}, tmp_path / "server.log") as proc:
        uri = f"http://127.0.0.1:{port}"
        wait_http(f"{uri}/health", proc)
        overrides = [f"paths.synth={tmp_path / 'synth'}", f"tracking.uri={uri}", "tracking.experiment=server"]
        run_stage("synth", load_params(None, [*TINY_DATA, *overrides]))
        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name("server")
        (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "synth" and run.data.metrics["faces"] == 6
