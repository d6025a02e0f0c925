"""The Prefect task of every stage in `facerep.stages.STAGES` (`TASKS`): parameters in, the stage's
output paths out.

A task takes the validated parameters (a `facerep.params.Params`, so it can run on any worker), runs
the library stage and then, when asked, writes its DVC metrics file and records the stage's outputs
in dvc.lock with `dvc commit`, so that after a Prefect run `dvc status` is clean and DVC alone caches
the data. Prefect's own result caching is off (`NO_CACHE`): DVC and Prefect never both cache.

Long stages report progress: pre-training a progress artifact (`pretrain-progress`, steps done of
`pretrain.max_steps`) and a log line each time it logs metrics; other stages that log at steps
(detection: images done) a log line.
"""

from __future__ import annotations

from typing import Any

from prefect import Task, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from facerep.params import Params
from facerep.pipeline import record_in_dvc
from facerep.stages import STAGES, Stage, run_stage, write_metrics
from facerep.tracking import adopt_parent


class Progress:
    """`on_step` for one stage run: a log line per step reported, and for stages of known length a
    progress artifact in percent, set to 100 when the stage finishes (also when a resumed run had
    nothing left to do)."""

    def __init__(self, stage: Stage, params: Params) -> None:
        self.stage, self.logger = stage.name, get_run_logger()
        self.total = stage.total_steps(params) if stage.total_steps else None
        self.artifact = None
        if self.total is not None:
            key = f"{stage.name}-progress"
            self.artifact = create_progress_artifact(0.0, key=key, description="steps done")

    def __call__(self, step: int) -> None:
        if self.artifact is None:
            self.logger.info("%s: %d done", self.stage, step)
            return
        self.logger.info("%s: step %d of %d", self.stage, step, self.total)
        update_progress_artifact(self.artifact, 100.0 * min(step, self.total) / self.total)

    def finish(self) -> None:
        if self.artifact is not None:
            update_progress_artifact(self.artifact, 100.0)


def stage_task(stage: Stage) -> Task:
    """A Prefect task running `stage`; network stages (`stage.retries`) are retried with backoff."""

    @task(
        name=stage.name,
        retries=stage.retries,
        retry_delay_seconds=[10, 60, 300][: max(stage.retries, 1)],
        cache_policy=NO_CACHE,
    )
    def run(
        params: Params, record_dvc: bool, run_id: str | None = None, parent_run_id: str | None = None
    ) -> dict[str, Any]:
        logger = get_run_logger()
        adopt_parent(parent_run_id)
        progress = Progress(stage, params)
        result = run_stage(stage.name, params, run_id, on_step=progress)
        progress.finish()
        for name, value in result.metrics.items():
            logger.info("%s: %s = %s", stage.name, name, value)
        if record_dvc:
            write_metrics(params, stage.name, result)
            record_in_dvc(stage.name)
        return {"outputs": [str(p) for p in result.outputs], "metrics": result.metrics}

    return run


TASKS: dict[str, Task] = {name: stage_task(stage) for name, stage in STAGES.items()}
