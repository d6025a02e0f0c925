"""The pipeline's stage order, an in-process runner (what `facerep demo` uses), and recording a stage's
outputs in DVC's lock file.

The Prefect flow in `flows/` runs the same stages in the same order through its tasks; DVC runs
them through `dvc.yaml`. This module holds the order once. A run outside DVC (the demo, a flow)
records each stage it finishes with `dvc commit`, as `dvc repro` would have, so that afterwards
`dvc status` is clean and `dvc repro` has nothing to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from facerep.params import DEFAULT_PARAMS_FILE, Params, load_params
from facerep.progress import stage_line
from facerep.stages import STAGES, StageResult, available_stages, run_stage, write_metrics
from facerep.tracking import pipeline_run

PIPELINE_ORDER: list[str] = list(STAGES)
DATA_STAGES: list[str] = ["synth", "harvest", "detect", "curate", "shard"]


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


def run_pipeline(
    params: Params, stages: list[str] | None, name: str = "pretrain-and-eval", record_dvc: bool = False
) -> dict[str, StageResult]:
    """Run `stages` (default: every stage installed) in pipeline order under one parent MLflow run,
    each with its one progress line (`[3/8] detect: done in 9.1 s`); with `record_dvc`, each stage's
    DVC metrics file is written and the stage recorded in dvc.lock as it finishes."""
    todo = [s for s in PIPELINE_ORDER if s in (stages or available_stages())]
    results: dict[str, StageResult] = {}
    with pipeline_run(params, name) as tracker:
        for i, stage in enumerate(todo, 1):
            with stage_line(f"[{i}/{len(todo)}] {stage}") as timing:
                results[stage] = run_stage(stage, params)
                if record_dvc:
                    write_metrics(params, stage, results[stage])
                    record_in_dvc(stage)
            tracker.log_metrics({f"{stage}.seconds": timing.seconds})
    return results
