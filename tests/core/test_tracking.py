"""MLflow tracking against a real SQLite store: nested stage runs, parameters, no secrets."""

from pathlib import Path

import mlflow
import pytest

from facerep.params import load_params
from facerep.tracking import Tracker, pipeline_run, stage_run


@pytest.fixture
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    return load_params(None, [f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "tracking.experiment=t"])


def test_stage_runs_nest_under_the_pipeline_run(params, tmp_path: Path) -> None:
    with pipeline_run(params, "demo") as parent:
        with stage_run(params, "synth") as tracker:
            tracker.log_metrics({"faces": 10, "bad": float("nan")})
            (tmp_path / "a.txt").write_text("x")
            tracker.log_artifact(tmp_path / "a.txt")
        child_id = tracker.run_id
    client = mlflow.MlflowClient(params.tracking.uri)
    child = client.get_run(child_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.run_id
    assert child.data.params["synth.faces"] == str(params.synth.faces)
    assert child.data.metrics == {"faces": 10.0}
    assert [a.path for a in client.list_artifacts(child_id)] == ["a.txt"]


def test_secret_looking_keys_are_never_logged(params) -> None:
    with stage_run(params, "harvest") as tracker:
        tracker.log_params({"harvest.flickr.api_key": "SECRET", "harvest.extra": "1"})
    logged = mlflow.MlflowClient(params.tracking.uri).get_run(tracker.run_id).data.params
    assert "harvest.flickr.api_key" not in logged and "SECRET" not in logged.values()


def test_disabled_tracking_records_nothing(tmp_path: Path) -> None:
    p = load_params(None, ["tracking.enabled=false", f"tracking.uri=sqlite:///{tmp_path}/x.db"])
    with stage_run(p, "synth") as tracker:
        assert tracker == Tracker(None) or not tracker.enabled
        tracker.log_metrics({"a": 1.0})
    assert not (tmp_path / "x.db").exists()


def test_relative_sqlite_store_names_one_file_whatever_the_later_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facerep.tracking import store_uri

    monkeypatch.chdir(tmp_path)
    assert store_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path}/mlflow.db"
    assert store_uri(f"sqlite:///{tmp_path}/x.db") == f"sqlite:///{tmp_path}/x.db"
    assert store_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
