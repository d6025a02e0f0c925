"""The stage registry: one place that maps a stage name to the function that runs it.

A stage is `run(params, tracker) -> StageResult` in `facerep/<package>/stage.py`. The CLI, the
Prefect tasks and the tests all call `run_stage`, so a stage's logic is written once. Modules are
imported lazily: `facerep params show` should not pay for importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facerep.params import Params

STAGES: dict[str, str] = {
    "synth": "facerep.synth.stage",
    "harvest": "facerep.harvest.stage",
    "detect": "facerep.faces.stage",
    "curate": "facerep.curate.stage",
    "shard": "facerep.shards.stage",
    "pretrain": "facerep.ssl.stage",
    "finetune": "facerep.downstream.stage",
    "report": "facerep.report.stage",
}


@dataclass
class StageResult:
    """What a stage reports: numeric metrics (logged to MLflow), files to attach, outputs written."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


def available_stages() -> list[str]:
    """Stages whose module exists in this installation (later stages land one by one)."""
    return [name for name, mod in STAGES.items() if importlib.util.find_spec(mod) is not None]


def run_stage(name: str, params: Params, run_id: str | None = None) -> StageResult:
    """Run stage `name` with `params` inside its MLflow run (nested under an active parent run).

    `run_id` continues an existing run of the stage: the Prefect flow opens the finetune stage's
    run first, maps the grid's points as tasks recorded under it, then collects them in it.
    """
    from facerep.tracking import stage_run

    if name not in STAGES:
        from facerep.errors import InputError

        raise InputError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module = importlib.import_module(STAGES[name])
    # A stage that resumes (pre-training from last.ckpt) may name the MLflow run to continue.
    resume = getattr(module, "resume_run_id", None)
    if run_id is None and resume is not None:
        run_id = resume(params)
    with stage_run(params, name, run_id=run_id) as tracker:
        result: StageResult = module.run(params, tracker)
        tracker.log_metrics(result.metrics)
        for artifact in result.artifacts:
            tracker.log_artifact(artifact)
    return result
