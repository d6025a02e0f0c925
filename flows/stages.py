"""What both flows share: the task of each stage, and running a list of stages in order.

The library holds the stage order (`facerep.pipeline`); this module only maps stage names to
their Prefect tasks and submits them one after another (the finetune stage as its grid of
concurrent point tasks: flows/finetune_grid.py), each waiting for the one before, so
that a stage that fails stops the flow with that stage's own error and a re-run resumes: every
stage is idempotent and skips the work it already finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Task

from facerep.errors import InputError
from facerep.params import load_params
from facerep.pipeline import PIPELINE_ORDER
from facerep.stages import available_stages
from facerep.tracking import pipeline_run
from flows.finetune_grid import run_finetune_grid
from tasks.curate import curate
from tasks.detect import detect
from tasks.finetune import finetune
from tasks.harvest import harvest
from tasks.pretrain import pretrain
from tasks.report import report
from tasks.shard import shard
from tasks.synth import synth

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


def is_dvc_project(root: Path = Path()) -> bool:
    """True when the working directory holds a DVC pipeline whose lock the flow should keep current."""
    return (root / ".dvc").is_dir() and (root / "dvc.yaml").is_file()


def run_stages(
    name: str,
    wanted: list[str],
    params_file: str | None,
    overrides: list[str] | None,
    stages: list[str] | None,
    record_dvc: bool | None,
) -> dict[str, Any]:
    """Validate parameters, then run the wanted stages in pipeline order under one MLflow parent run."""
    overrides = list(overrides or [])
    params = load_params(params_file, overrides)
    if record_dvc is None:
        record_dvc = is_dvc_project()
    if record_dvc and overrides:
        raise InputError(
            "overrides cannot be recorded in dvc.lock, which tracks pipeline_params.yaml: "
            "edit the params file instead, or run with record_dvc=false"
        )
    selected = stages or wanted
    unknown = sorted(set(selected) - set(PIPELINE_ORDER))
    if unknown:
        raise InputError(f"unknown stages {unknown}; stages: {PIPELINE_ORDER}")
    installed = set(available_stages())
    todo = [s for s in PIPELINE_ORDER if s in selected and s in installed]
    outputs: dict[str, Any] = {}
    with pipeline_run(params, name) as parent:
        for stage in todo:
            if stage == "finetune":
                outputs[stage] = run_finetune_grid(params_file, overrides, record_dvc, parent.run_id)
            else:
                task = TASKS[stage]
                outputs[stage] = task.submit(params_file, overrides, record_dvc, None, parent.run_id).result()
    return outputs
