"""MLflow tracking against a real SQLite store: nested stage runs, parameters, no secrets."""

import os
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


def test_registered_backbone_loads_as_a_module_mapping_images_to_features(params) -> None:
    """`models:/facerep-backbone@<method>` is a PyTorch model with a signature and an input example:
    an image batch in, the backbone's pooled features out."""
    import torch

    from facerep.ssl.backbones import build_backbone

    torch.manual_seed(0)
    net = build_backbone("resnet_tiny").eval()
    with stage_run(params, "pretrain") as tracker:
        first = tracker.register_backbone(net, "swav", 32)
        second = tracker.register_backbone(net, "swav", 32)
    assert (int(first), int(second)) == (1, 2)
    mlflow.set_tracking_uri(params.tracking.uri)
    loaded = mlflow.pytorch.load_model("models:/facerep-backbone@swav")
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), net(images))
    version = mlflow.MlflowClient().get_model_version_by_alias("facerep-backbone", "swav")
    assert version.version == second and version.run_id == tracker.run_id and version.tags["method"] == "swav"
    model = mlflow.models.get_model_info("models:/facerep-backbone@swav")
    assert model.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 3, 32, 32)
    assert model.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, net.feature_dim)
    assert model.saved_input_example_info is not None


def test_a_child_run_spans_the_work_it_records(params) -> None:
    """A finetune point's run is opened when the point starts and closed when it ends (its true
    duration), and a point that raises leaves a FAILED run."""
    import time

    with stage_run(params, "finetune") as stage:
        with stage.child_run("finetune a", {"facerep.stage": "finetune-point"}) as point:
            time.sleep(0.3)
            point.log_metrics({"accuracy": 0.5})
        with pytest.raises(RuntimeError), stage.child_run("finetune b", {}) as failing:
            raise RuntimeError("boom")
    client = mlflow.MlflowClient(params.tracking.uri)
    done, failed = client.get_run(point.run_id), client.get_run(failing.run_id)
    assert done.data.tags["mlflow.parentRunId"] == stage.run_id and done.data.metrics == {"accuracy": 0.5}
    assert done.info.status == "FINISHED" and done.info.end_time - done.info.start_time >= 300
    assert failed.info.status == "FAILED"


def test_mlflow_tracking_uri_overrides_the_default_store_but_not_an_explicit_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facerep.tracking import tracking_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(load_params(None)) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    with stage_run(load_params(None, ["tracking.experiment=env"]), "synth") as tracker:
        pass
    env_store = mlflow.MlflowClient(f"sqlite:///{tmp_path}/env.db")
    assert env_store.get_run(tracker.run_id).info.run_name == "synth"
    explicit = load_params(None, [f"tracking.uri=sqlite:///{tmp_path}/explicit.db"])
    assert tracking_uri(explicit) == f"sqlite:///{tmp_path}/explicit.db"


def test_each_project_in_one_process_records_to_its_own_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow exports the store it is pointed at as $MLFLOW_TRACKING_URI; a second project (a
    Prefect worker, a notebook) must not take that for the user's choice and write into the first."""
    runs = {}
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        with stage_run(load_params(None), "synth") as tracker:
            runs[name] = tracker.run_id
        assert "MLFLOW_TRACKING_URI" not in os.environ
    for name, run_id in runs.items():
        store = mlflow.MlflowClient(f"sqlite:///{tmp_path / name}/mlflow.db")
        assert store.get_run(run_id).info.run_name == "synth"
    assert not (tmp_path / "second" / "mlflow.db").samefile(tmp_path / "first" / "mlflow.db")


def test_stages_of_a_dvc_experiment_nest_under_one_run_named_after_it(
    params, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dvc exp run` starts each stage as its own process with DVC_EXP_NAME set: the first stage
    creates the experiment's parent run, the next ones find it."""
    monkeypatch.setenv("DVC_EXP_NAME", "longer-run")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    with stage_run(params, "pretrain") as first:
        pass
    with stage_run(params, "finetune") as second:
        pass
    monkeypatch.setenv("DVC_EXP_NAME", "another")
    with stage_run(params, "pretrain") as other:
        pass
    client = mlflow.MlflowClient(params.tracking.uri)
    parents = [client.get_run(r.run_id).data.tags["mlflow.parentRunId"] for r in (first, second, other)]
    assert parents[0] == parents[1] != parents[2]
    parent = client.get_run(parents[0])
    assert parent.info.run_name == "longer-run" and parent.info.status == "FINISHED"
    assert parent.data.tags["facerep.dvc.experiment"] == "longer-run"
