"""The stages: one ordered definition (`STAGES`) from which every orchestrator takes its stages.

A stage is `run(params, tracker) -> StageResult` in `facerep/<package>/stage.py`. The CLI's
commands, the Prefect tasks (tasks/stages.py), the in-process runner and the Prefect flows
(`facerep.pipeline.run_pipeline`) all come from `STAGES` and call `run_stage`, so a stage's logic
and its place in the order are written once; tests/orchestration/test_dvc_yaml.py checks that
dvc.yaml has the same stages in the same order. Modules are imported lazily: a stage pays only for
what it imports.

`write_metrics` writes a finished stage's metrics to `<paths.metrics>/<stage>.json`, the DVC metrics
file dvc.yaml declares for it: flat, git-tracked (so `dvc exp show` reads it in every experiment),
and without timings, which differ on every run and would fill `dvc exp show --only-changed` (MLflow
keeps them). The runs DVC records call it (`facerep <stage>` under DVC, the demo and the Prefect
tasks when they record in dvc.lock: `facerep.pipeline.dvc_run`); a library call of `run_stage`, a
benchmark or a run with other parameters writes none. The report stage has none: its
numbers are the finetune stage's, restated.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facerep.params import Params


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its name (the CLI command, the Prefect task, the DVC stage), the module
    holding its `run`, and what orchestrators need to know of it."""

    name: str
    module: str
    dataset: bool = False  # builds the pre-training data (the `build-dataset` flow runs these)
    retries: int = 0  # retries an orchestrator may make (network stages), with backoff
    metrics_file: bool = True  # writes `<paths.metrics>/<name>.json` (the report restates finetune's)
    total_steps: Callable[[Params], int] | None = None  # the length of its progress, when known


# In pipeline order: each stage reads only what stages before it wrote.
STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("synth", "facerep.synth.stage", dataset=True),
        Stage("harvest", "facerep.harvest.stage", dataset=True, retries=3),
        Stage("detect", "facerep.faces.stage", dataset=True),
        Stage("curate", "facerep.curate.stage", dataset=True),
        Stage("shard", "facerep.shards.stage", dataset=True),
        Stage("pretrain", "facerep.ssl.stage", total_steps=lambda p: p.pretrain.max_steps),
        Stage("finetune", "facerep.downstream.stage"),
        Stage("report", "facerep.report.stage", metrics_file=False),
    )
}
DATA_STAGES: list[str] = [name for name, s in STAGES.items() if s.dataset]
TIMING_SUFFIXES = ("seconds", "_per_s", "_per_s_running")


@dataclass
class StageResult:
    """What a stage reports: numeric metrics (logged to MLflow), files to attach, outputs written."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


def metrics_file(params: Params, stage: str) -> Path:
    """`<paths.metrics>/<stage>.json`: the stage's DVC metrics file."""
    return Path(params.paths.metrics) / f"{stage}.json"


def dvc_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """What an experiment compares: every metric but the timings."""
    return {k: v for k, v in sorted(metrics.items()) if not k.endswith(TIMING_SUFFIXES)}


def run_stage(
    name: str, params: Params, run_id: str | None = None, on_step: Callable[[int], None] | None = None
) -> StageResult:
    """Run stage `name` with `params` inside its MLflow run (nested under an active parent run).

    `run_id` continues an existing run of the stage: the Prefect flow opens the finetune stage's
    run first, maps the grid's points as tasks recorded under it, then collects them in it.
    `on_step(step)` hears the stage's progress (`facerep.tracking.Tracker`).
    """
    from facerep.tracking import stage_run

    if name not in STAGES:
        from facerep.errors import InputError

        raise InputError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module = importlib.import_module(STAGES[name].module)
    # A stage that resumes (pre-training from last.ckpt) may name the MLflow run to continue.
    resume = getattr(module, "resume_run_id", None)
    if run_id is None and resume is not None:
        run_id = resume(params)
    with stage_run(params, name, run_id=run_id, on_step=on_step) as tracker:
        result: StageResult = module.run(params, tracker)
        tracker.log_metrics(result.metrics)
        for artifact in result.artifacts:
            tracker.log_artifact(artifact)
    return result


def write_metrics(params: Params, stage: str, result: StageResult) -> None:
    """Write `stage`'s DVC metrics file (rank 0 alone under torchrun; none for the report)."""
    if not STAGES[stage].metrics_file or int(os.environ.get("RANK", "0")) != 0:
        return
    from facerep.io import write_json

    write_json(metrics_file(params, stage), dvc_metrics(result.metrics))
