"""The whole pipeline through DVC, then through Prefect deployments, then in MLflow, then as a DVC
experiment.

One tiny project shaped like a clone is built once (module fixture) and the tests run in order on
it: DVC builds everything from raw data (each stage's metrics in a git-tracked file), a second `dvc
repro` does nothing, a parameter change re-runs only the stages that depend on it, a `prefect
deployment run` of the served flow completes, publishes the report and leaves `dvc status` clean,
the `prefect.yaml` route deploys and runs on a process worker, the MLflow UI shows the runs and the
report artifact in headless Chromium, the registered backbone loads from the project's store,
`dvc exp run -S pipeline_params.yaml:pretrain.max_steps=...` gives an experiment whose metrics `dvc
exp show` compares with the baseline's, its MLflow runs under one parent named after it, and the
demo records every stage in dvc.lock.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
import yaml
from orch_project import BIN, commit_all, make_project, run
from orch_servers import background, chromium_dom, mlflow_ui, prefect_env, prefect_server, served_flows

pytestmark = pytest.mark.timeout(1200)


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("e2e") / "proj")
    out = run([str(BIN / "dvc"), "repro"], root, timeout=900)
    assert ran_stages(out.stdout) == [
        "synth",
        "harvest",
        "detect",
        "curate",
        "shard",
        "pretrain",
        "finetune",
        "report",
    ]
    return root


@pytest.fixture(scope="module")
def prefect_api(project: Path) -> Iterator[str]:
    """One Prefect server for the deployment tests; its API URL."""
    with prefect_server(project) as api_url:
        yield api_url


def artifacts(api_url: str, key: str) -> list[dict]:
    response = httpx.post(f"{api_url}/artifacts/filter", json={"artifacts": {"key": {"any_": [key]}}})
    return response.json()


def deployments(api_url: str) -> dict[str, dict]:
    """Deployments by `<flow name>/<deployment name>`."""
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api_url}/flows/filter", json={}).json()}
    found = httpx.post(f"{api_url}/deployments/filter", json={}).json()
    return {f"{flows[d['flow_id']]}/{d['name']}": d for d in found}


def test_dvc_repro_builds_every_stage_output(project: Path) -> None:
    assert (project / "data/shards/index.json").is_file()
    index = json.loads((project / "data/shards/index.json").read_text())
    assert index["samples"] > 0
    assert (project / "models/pretrain/swav/backbone.pt").is_file()
    trained = json.loads((project / "models/pretrain/swav/metrics.json").read_text())
    assert trained["data"]["source"] == "shards"  # the pipeline's own curated faces
    assert trained["data"]["images"] == index["samples"]
    assert (project / "results/report.md").is_file()
    assert (project / "results/summary.csv").is_file()
    status = run([str(BIN / "dvc"), "status"], project)
    assert "up to date" in status.stdout
    metrics = {p.stem: json.loads(p.read_text()) for p in (project / "metrics").glob("*.json")}
    assert sorted(metrics) == ["curate", "detect", "finetune", "harvest", "pretrain", "shard", "synth"]
    assert metrics["shard"]["samples"] == index["samples"] and metrics["curate"]["kept"] > 0
    assert metrics["pretrain"]["steps"] == 3 and "knn_accuracy" in metrics["pretrain"]
    assert {"expression.pretrain-swav.0.1.accuracy", "pose.scratch.1.mae"} <= set(metrics["finetune"])
    assert not [k for m in metrics.values() for k in m if k.endswith(("seconds", "_per_s"))]


def test_second_repro_does_nothing(project: Path) -> None:
    out = run([str(BIN / "dvc"), "repro"], project)
    assert ran_stages(out.stdout) == []


def test_shards_and_checkpoints_round_trip_through_a_dvc_remote(project: Path, tmp_path: Path) -> None:
    dvc = str(BIN / "dvc")
    run([dvc, "remote", "add", "--local", "-d", "store", str(tmp_path / "remote")], project)
    run([dvc, "push"], project)
    backbone = project / "models/pretrain/swav/backbone.pt"
    original = backbone.read_bytes()
    shutil.rmtree(project / "data/shards")
    backbone.unlink()
    shutil.rmtree(project / ".dvc/cache")
    run([dvc, "pull"], project)
    assert backbone.read_bytes() == original
    assert (project / "data/shards/index.json").is_file()


def test_a_parameter_change_reruns_only_what_follows(project: Path) -> None:
    params = project / "pipeline_params.yaml"
    doc = yaml.safe_load(params.read_text())
    doc["report"]["title"] = "changed title"
    params.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = run([str(BIN / "dvc"), "repro"], project)
    assert ran_stages(out.stdout) == ["report"]
    assert "changed title" in (project / "results/report.md").read_text()


def test_served_deployment_run_completes_publishes_the_report_and_keeps_dvc_clean(
    project: Path, prefect_api: str
) -> None:
    with served_flows(project, prefect_api):
        out = run(
            [str(BIN / "prefect"), "deployment", "run", "pretrain-and-eval/default", "--watch"],
            project,
            timeout=900,
            extra_env=prefect_env(project, prefect_api),
        )
    assert "Completed" in out.stdout + out.stderr
    status = run([str(BIN / "dvc"), "status"], project)
    assert "up to date" in status.stdout
    served = deployments(prefect_api)["pretrain-and-eval/default"]
    assert served["global_concurrency_limit"]["limit"] == 1
    assert served["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    (report,) = artifacts(prefect_api, "facerep-report")
    assert report["type"] == "markdown" and report["data"] == (project / "results/report.md").read_text()
    (link,) = artifacts(prefect_api, "mlflow-run")
    assert re.search(r"#/experiments/\d+/runs/[0-9a-f]{32}", link["data"])
    (progress,) = artifacts(prefect_api, "pretrain-progress")
    assert progress["type"] == "progress" and progress["data"] == 100.0


def test_prefect_yaml_deploys_typed_one_at_a_time_deployments_that_run_on_a_worker(
    project: Path, prefect_api: str
) -> None:
    """The README's prefect.yaml commands, non-interactively: a process pool, `prefect deploy --all`,
    a worker; the deployments take the typed parameters and run one at a time."""
    e = prefect_env(project, prefect_api)
    prefect = str(BIN / "prefect")
    run([prefect, "work-pool", "create", "facerep", "--type", "process"], project, extra_env=e)
    run([prefect, "--no-prompt", "deploy", "--all"], project, extra_env={**e, "FACEREP_ROOT": str(project)})
    deployed = deployments(prefect_api)
    for name in ("pretrain-and-eval/default", "build-dataset/default"):
        assert deployed[name]["work_pool_name"] == "facerep"
        assert deployed[name]["global_concurrency_limit"]["limit"] == 1
        schema = deployed[name]["parameter_openapi_schema"]
        assert schema["properties"]["stages"]["anyOf"][0]["items"]["enum"][:2] == ["synth", "harvest"]
        assert "pretrain" in schema["definitions"]["Params"]["properties"]
    worker = [prefect, "worker", "start", "--pool", "facerep"]
    report_only = ["deployment", "run", "pretrain-and-eval/default", "--param", 'stages=["report"]']
    with background(worker, project, e, project / "worker.log"):
        out = run([prefect, *report_only, "--watch"], project, timeout=600, extra_env=e)
    assert "Completed" in out.stdout + out.stderr, (project / "worker.log").read_text()[-3000:]
    assert "up to date" in run([str(BIN / "dvc"), "status"], project).stdout


def test_mlflow_ui_shows_runs_and_the_report(project: Path) -> None:
    uri = f"sqlite:///{project}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("facerep")
    runs = client.search_runs([experiment.experiment_id], filter_string="attributes.run_name = 'report'")
    report_run = runs[0]
    assert "report.md" in [a.path for a in client.list_artifacts(report_run.info.run_id)]
    with mlflow_ui(uri) as base:
        runs_page = chromium_dom(f"{base}/#/experiments/{experiment.experiment_id}/runs")
        artifacts_page = chromium_dom(
            f"{base}/#/experiments/{experiment.experiment_id}/runs/{report_run.info.run_id}/artifacts"
        )
    assert ">pretrain-and-eval<" in runs_page
    assert "report.md" in artifacts_page


def test_the_registered_backbone_loads_from_the_projects_store(project: Path) -> None:
    """`models:/facerep-backbone@swav` is the pre-trained backbone: the features of backbone.pt."""
    import torch

    from facerep.ssl.backbones import load_backbone

    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    registered = mlflow.pytorch.load_model("models:/facerep-backbone@swav")
    trained = load_backbone(project / "models/pretrain/swav/backbone.pt").eval()
    images = torch.rand(5, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(registered(images), trained(images), atol=1e-5, rtol=1e-5)
    versions = mlflow.MlflowClient().search_model_versions("name = 'facerep-backbone'")
    assert len(versions) == 1  # trained once; the re-runs that trained nothing registered nothing


def test_a_dvc_experiment_on_max_steps_is_compared_with_the_baseline(project: Path) -> None:
    """`dvc exp run -S pipeline_params.yaml:pretrain.max_steps=5` (DVC's `-S` without a file name
    targets params.yaml): pre-training, finetune and report re-run; `dvc exp show` lists the
    experiment's metrics beside the baseline commit's, `--only-changed` keeps to what differs, and
    the experiment's MLflow runs sit under one parent named after it."""
    dvc = str(BIN / "dvc")
    commit_all(project, "baseline")
    longer = ["exp", "run", "-S", "pipeline_params.yaml:pretrain.max_steps=5", "-n", "longer"]
    out = run([dvc, *longer], project, timeout=900)
    assert ran_stages(out.stdout) == ["pretrain", "finetune", "report"]
    shown = json.loads(run([dvc, "exp", "show", "--json"], project).stdout)
    (baseline,) = [r for r in shown if r["rev"] != "workspace"]
    (experiment,) = baseline["experiments"]
    assert experiment["name"] == "longer"

    def metrics(row: dict, stage: str) -> dict:
        return row["data"]["metrics"][f"metrics/{stage}.json"]["data"]

    exp_row = experiment["revs"][0]
    assert (metrics(baseline, "pretrain")["steps"], metrics(exp_row, "pretrain")["steps"]) == (3, 5)
    base_ft, exp_ft = metrics(baseline, "finetune"), metrics(exp_row, "finetune")
    assert base_ft.keys() == exp_ft.keys()
    assert base_ft["pose.scratch.1.mae"] == exp_ft["pose.scratch.1.mae"]  # reused: same fingerprint
    assert base_ft["pose.pretrain-swav.1.mae"] != exp_ft["pose.pretrain-swav.1.mae"]

    changed = run([dvc, "exp", "show", "--only-changed", "--csv"], project).stdout
    header = next(csv.reader(io.StringIO(changed)))
    assert "pretrain.max_steps" in header and "pose.pretrain-swav.1.mae" in header
    assert "pose.scratch.1.mae" not in header and len(header) < 40, header

    client = mlflow.MlflowClient(f"sqlite:///{project}/mlflow.db")
    experiment_id = client.get_experiment_by_name("facerep").experiment_id
    (parent,) = client.search_runs([experiment_id], "attributes.run_name = 'longer'")
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["finetune", "pretrain", "report"]


def test_the_demo_records_every_stage_in_dvc_lock(project: Path) -> None:
    """`facerep demo` (what `make demo` runs) in a DVC project without a lock file: afterwards
    `dvc status` is clean and `dvc repro` does nothing (every stage here has its work done, so the
    demo only checks and records)."""
    (project / "dvc.lock").unlink()
    bare = {"PATH": "/usr/bin:/bin"}  # `make demo` runs .venv/bin/facerep without .venv/bin on PATH
    out = run([str(BIN / "facerep"), "demo"], project, timeout=900, extra_env=bare)
    assert "recorded in dvc.lock" in out.stdout
    assert "up to date" in run([str(BIN / "dvc"), "status"], project).stdout
    assert ran_stages(run([str(BIN / "dvc"), "repro"], project).stdout) == []
