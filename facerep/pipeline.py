"""The pipeline's stage order and an in-process runner (what `facerep demo` uses).

The Prefect flow in `flows/` runs the same stages in the same order through its tasks; DVC runs
them through `dvc.yaml`. This module holds the order once.
"""

from __future__ import annotations

from facerep.params import Params
from facerep.progress import stage_line
from facerep.stages import STAGES, StageResult, available_stages, run_stage
from facerep.tracking import pipeline_run

PIPELINE_ORDER: list[str] = list(STAGES)
DATA_STAGES: list[str] = ["synth", "harvest", "detect", "curate", "shard"]


def run_pipeline(
    params: Params, stages: list[str] | None, name: str = "pretrain-and-eval"
) -> dict[str, StageResult]:
    """Run `stages` (default: every stage installed) in pipeline order under one parent MLflow run,
    each with its one progress line (`[3/8] detect: done in 9.1 s`)."""
    todo = [s for s in PIPELINE_ORDER if s in (stages or available_stages())]
    results: dict[str, StageResult] = {}
    with pipeline_run(params, name) as tracker:
        for i, stage in enumerate(todo, 1):
            with stage_line(f"[{i}/{len(todo)}] {stage}") as timing:
                results[stage] = run_stage(stage, params)
            tracker.log_metrics({f"{stage}.seconds": timing.seconds})
    return results
