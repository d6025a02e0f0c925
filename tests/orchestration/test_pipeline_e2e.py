"""The whole pipeline through DVC, then through a served Prefect deployment, then in the MLflow UI.

One tiny project is built once (module fixture) and the tests run in order on it: DVC builds
everything from raw data, a second `dvc repro` does nothing, a parameter change re-runs only the
stages that depend on it, a `prefect deployment run` of the served flow completes and leaves
`dvc status` clean, and the MLflow UI shows the runs and the report artifact in headless Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from orch_project import BIN, make_project, run
from orch_servers import chromium_dom, mlflow_ui, prefect_env, prefect_server, served_flows

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


def test_served_deployment_run_completes_and_keeps_dvc_clean(project: Path) -> None:
    with prefect_server(project) as api_url, served_flows(project, api_url):
        out = run(
            [str(BIN / "prefect"), "deployment", "run", "pretrain-and-eval/default", "--watch"],
            project,
            timeout=900,
            extra_env=prefect_env(project, api_url),
        )
    assert "Completed" in out.stdout + out.stderr
    status = run([str(BIN / "dvc"), "status"], project)
    assert "up to date" in status.stdout


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
