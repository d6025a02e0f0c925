"""The one orchestrator of stage order (`run_pipeline`: what `facerep demo` and the Prefect flows run),
and recording a stage's outputs in DVC's lock file.

`run_pipeline` takes the stages in `facerep.stages.STAGES` order under one parent MLflow run, and
hands each to a `StageCall`: in this process (`run_here`, the demo) or as a Prefect task
(flows/stages.py). DVC runs the same stages through `dvc.yaml`, whose stages and order a test holds
to `STAGES`. A run outside DVC (the demo, a flow) records each stage it finishes with `dvc commit`,
as `dvc repro` would have, so that afterwards `dvc status` is clean and `dvc repro` has nothing to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from facerep.errors import InputError
from facerep.params import DEFAULT_PARAMS_FILE, Params, load_params
from facerep.progress import stage_line
from facerep.stages import STAGES, StageResult, run_stage, write_metrics
from facerep.tracking import Tracker, pipeline_run

# How an orchestrator runs one stage: (stage, params, record in dvc.lock, the pipeline's parent run).
StageCall = Callable[[str, Params, bool, Tracker], Any]


def is_dvc_project(root: Path = Path()) -> bool:
    """True when the working directory holds a DVC pipeline whose lock a run should keep current."""
    return (root / ".dvc").is_dir() and (root / "dvc.yaml").is_file()


def matches_params_file(params: Params) -> bool:
    """Whether dvc.lock can record a run with `params`: dvc.yaml reads the project's
    pipeline_params.yaml, so only a run with exactly its values is one `dvc repro` would have made."""
    path = Path(DEFAULT_PARAMS_FILE)
    return path.is_file() and params == load_params(path)


def dvc_run(params: Params) -> bool:
    """Whether a `facerep <stage>` run's outputs are the DVC pipeline's: DVC runs it (`DVC_STAGE` is
    set for every stage command), or it runs in the DVC project with pipeline_params.yaml's values.
    Only such a run writes the stage's DVC metrics file; a benchmark or a run with other parameters
    leaves the project's metrics as they were."""
    return bool(os.environ.get("DVC_STAGE")) or (is_dvc_project() and matches_params_file(params))


def record_in_dvc(stage: str) -> None:
    """Record `stage`'s current deps and outs in dvc.lock (the workspace must be a DVC project). DVC
    runs from this Python's environment, which `make demo` does not put on PATH."""
    command = [sys.executable, "-m", "dvc", "commit", "--force", stage]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc commit {stage} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def should_record(params: Params, record_dvc: bool | None) -> bool:
    """Whether a pipeline run records its stages in dvc.lock: by default when the workspace is a DVC
    project and the parameters are exactly pipeline_params.yaml's, the only runs dvc.lock can
    describe (asked for otherwise: InputError)."""
    as_file = matches_params_file(params)
    if record_dvc is None:
        return is_dvc_project() and as_file
    if record_dvc and not as_file:
        raise InputError(
            "dvc.lock records runs of pipeline_params.yaml alone: put these values in that file, or "
            "run with record_dvc=false"
        )
    return record_dvc


def plan(stages: Iterable[str] | None) -> list[str]:
    """`stages` (default: all) in pipeline order; an unknown name stops before any stage runs."""
    wanted = list(STAGES) if stages is None else list(stages)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise InputError(f"unknown stages {unknown}; stages: {', '.join(STAGES)}")
    return [s for s in STAGES if s in wanted]


def run_here(stage: str, params: Params, record_dvc: bool, parent: Tracker) -> StageResult:
    """Run `stage` in this process (its MLflow run nested under `parent`, the active run); with
    `record_dvc`, write its DVC metrics file and record it in dvc.lock."""
    result = run_stage(stage, params)
    if record_dvc:
        write_metrics(params, stage, result)
        record_in_dvc(stage)
    return result


def run_pipeline(
    params: Params,
    stages: Iterable[str] | None,
    name: str = "pretrain-and-eval",
    record_dvc: bool = False,
    call: StageCall = run_here,
) -> dict[str, Any]:
    """Run `stages` (default: every stage) in pipeline order under one parent MLflow run, each with
    its one progress line (`[3/8] detect: done in 9.1 s`) and its time logged to the parent run;
    `call` runs one stage (and with `record_dvc` records it in dvc.lock as it finishes)."""
    todo = plan(stages)
    results: dict[str, Any] = {}
    with pipeline_run(params, name) as parent:
        for i, stage in enumerate(todo, 1):
            with stage_line(f"[{i}/{len(todo)}] {stage}") as timing:
                results[stage] = call(stage, params, record_dvc, parent)
            parent.log_metrics({f"{stage}.seconds": timing.seconds})
    return results
