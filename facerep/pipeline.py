"""The pipeline's stage order and an in-process runner (what `facerep demo` uses).

The Prefect flow in `flows/` runs the same stages in the same order through its tasks; DVC runs
them through `dvc.yaml`. This module holds the order once.
"""

from __future__ import annotations

import time

from rich.console import Console

from facerep.params import Params
from facerep.stages import STAGES, StageResult, available_stages, run_stage
from facerep.tracking import pipeline_run

PIPELINE_ORDER: list[str] = list(STAGES)
DATA_STAGES: list[str] = ["synth", "harvest", "detect", "curate", "shard"]


def run_pipeline(
    params: Params, stages: list[str] | None, console: Console, name: str = "pretrain-and-eval"
) -> dict[str, StageResult]:
    """Run `stages` (default: every stage installed) in pipeline order under one parent MLflow run."""
    todo = [s for s in PIPELINE_ORDER if s in (stages or available_stages())]
    results: dict[str, StageResult] = {}
    with pipeline_run(params, name) as tracker:
        for stage in todo:
            console.rule(f"[bold]{stage}")
            start = time.perf_counter()
            results[stage] = run_stage(stage, params)
            seconds = time.perf_counter() - start
            tracker.log_metrics({f"{stage}.seconds": seconds})
            console.print(f"{stage}: done in {seconds:.1f} s")
    return results
