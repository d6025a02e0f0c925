"""What both flows share: their typed parameters, the task of each stage, and running a list of
stages in order.

The library holds the stage order (`facerep.pipeline`); this module maps stage names to their
Prefect tasks and submits them one after another (the finetune stage as its grid of concurrent
point tasks: flows/finetune_grid.py), each waiting for the one before, so that a stage that fails
stops the flow with that stage's own error and a re-run resumes: every stage is idempotent and
skips the work it already finished. Parameters are resolved and validated before the first stage.
After the report, the flow publishes it as a markdown artifact (`facerep-report`) beside a link
artifact to the MLflow parent run (`mlflow-run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import Task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from facerep.errors import InputError
from facerep.params import Params, load_params
from facerep.pipeline import PIPELINE_ORDER, is_dvc_project, matches_params_file
from facerep.stages import available_stages
from facerep.tracking import Tracker, pipeline_run
from flows.finetune_grid import run_finetune_grid
from tasks.curate import curate
from tasks.detect import detect
from tasks.finetune import finetune
from tasks.harvest import harvest
from tasks.pretrain import pretrain
from tasks.report import report
from tasks.shard import shard
from tasks.synth import synth

# The names the flows' `stages` parameter accepts: a multiple choice in the Prefect UI.
StageName = Literal[tuple(PIPELINE_ORDER)]  # type: ignore[valid-type]

TASKS: dict[str, Task] = {
    "synth": synth,
    "harvest": harvest,
    "detect": detect,
    "curate": curate,
    "shard": shard,
    "pretrain": pretrain,
    "finetune": finetune,
    "report": report,
}


def resolve(params: Params | None, params_file: str, record_dvc: bool | None) -> tuple[Params, bool]:
    """The run's parameters (`params` when given, else `params_file`) and whether to record the run
    in dvc.lock: by default when the workspace is a DVC project and the parameters are exactly
    pipeline_params.yaml's, the only runs dvc.lock can describe (asked for otherwise: InputError)."""
    resolved = params if params is not None else load_params(params_file)
    as_file = matches_params_file(resolved)
    if record_dvc is None:
        record_dvc = is_dvc_project() and as_file
    if record_dvc and not as_file:
        raise InputError(
            "dvc.lock records runs of pipeline_params.yaml alone: put these values in that file, or "
            "run with record_dvc=false"
        )
    return resolved, record_dvc


def publish_report(params: Params, parent: Tracker) -> None:
    """The report as a markdown artifact, and a link to the MLflow run that holds the whole run."""
    path = Path(params.paths.results) / "report.md"
    create_markdown_artifact(path.read_text(), key="facerep-report", description=f"{path}")
    url = parent.ui_url()
    if url is not None:
        where = "" if parent.uri and parent.uri.startswith("http") else " (`mlflow ui` on this machine)"
        create_link_artifact(url, link_text=f"MLflow run{where}", key="mlflow-run")


def run_stages(
    name: str, stages: list[str], params: Params | None, params_file: str, record_dvc: bool | None
) -> dict[str, Any]:
    """Resolve the parameters, then run `stages` in pipeline order under one MLflow parent run."""
    resolved, record = resolve(params, params_file, record_dvc)
    installed = set(available_stages())
    todo = [s for s in PIPELINE_ORDER if s in stages and s in installed]
    outputs: dict[str, Any] = {}
    with pipeline_run(resolved, name) as parent:
        for stage in todo:
            if stage == "finetune":
                outputs[stage] = run_finetune_grid(resolved, record, parent.run_id)
            else:
                outputs[stage] = TASKS[stage].submit(resolved, record, None, parent.run_id).result()
        if "report" in todo:
            publish_report(resolved, parent)
    return outputs
