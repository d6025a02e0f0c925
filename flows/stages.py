"""What both flows share: their typed parameters, and running stages as Prefect tasks.

The order is the library's (`facerep.pipeline.run_pipeline`, over `facerep.stages.STAGES`); this
module says how a flow runs one stage: as its task (tasks/stages.py), submitted and awaited, so that a
stage that fails stops the flow with that stage's own error and a re-run resumes (every stage is
idempotent and skips the work it already finished); the finetune stage as its grid of concurrent
point tasks (flows/finetune_grid.py). Parameters are resolved and validated before the first stage.
After the report, the flow publishes it as a markdown artifact (`facerep-report`) beside a link
artifact to the MLflow parent run (`mlflow-run`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from prefect.artifacts import create_link_artifact, create_markdown_artifact

from facerep.params import Params, load_params
from facerep.pipeline import run_pipeline, should_record
from facerep.stages import STAGES
from facerep.tracking import Tracker
from flows.finetune_grid import run_finetune_grid
from tasks.stages import TASKS

# The names the flows' `stages` parameter accepts: a multiple choice in the Prefect UI.
StageName = Literal[tuple(STAGES)]  # type: ignore[valid-type]


def publish_report(params: Params, parent: Tracker) -> None:
    """The report as a markdown artifact, and a link to the MLflow run that holds the whole run."""
    path = Path(params.paths.results) / "report.md"
    create_markdown_artifact(path.read_text(), key="facerep-report", description=f"{path}")
    url = parent.ui_url()
    if url is not None:
        where = "" if parent.uri and parent.uri.startswith("http") else " (`mlflow ui` on this machine)"
        create_link_artifact(url, link_text=f"MLflow run{where}", key="mlflow-run")


def run_task(stage: str, params: Params, record_dvc: bool, parent: Tracker) -> dict[str, Any]:
    """One stage as a flow runs it (`facerep.pipeline.StageCall`): its task, awaited."""
    if stage == "finetune":
        return run_finetune_grid(params, record_dvc, parent.run_id)
    outputs = TASKS[stage].submit(params, record_dvc, None, parent.run_id).result()
    if stage == "report":
        publish_report(params, parent)
    return outputs


def run_flow(
    name: str, stages: Iterable[str], params: Params | None, params_file: str, record_dvc: bool | None
) -> dict[str, Any]:
    """Resolve the parameters (`params` when given, else `params_file`) and whether to record in
    dvc.lock, then run `stages` in pipeline order as tasks under one MLflow parent run."""
    resolved = params if params is not None else load_params(params_file)
    return run_pipeline(resolved, stages, name, should_record(resolved, record_dvc), call=run_task)
