"""The finetune stage inside a flow: its grid of (task, init, regime) points mapped as concurrent
Prefect tasks, then the stage task, which collects them and records the stage in dvc.lock. The
`finetune-progress` artifact and a log line follow the points as they finish.

`finetune_plan` opens the stage's MLflow run and lists the grid's points; `finetune_point` evaluates
one point (a nested MLflow run under the stage's run); the stage task then runs in the same MLflow
run, finds every point done, and collects them.
"""

from __future__ import annotations

from typing import Any

from prefect import task, unmapped
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.logging import get_run_logger

from facerep.downstream.grid import Point, shared_grid
from facerep.params import Params
from facerep.tracking import Tracker, adopt_parent, stage_run, tracking_uri
from tasks.stages import TASKS


@task(name="finetune-plan", cache_policy=NO_CACHE)
def finetune_plan(params: Params, parent_run_id: str | None = None) -> tuple[str | None, list[list[Any]]]:
    """The stage's MLflow run id (opened here, continued by the points and the stage task) and the
    grid's points as [task, init, regime]."""
    adopt_parent(parent_run_id)
    with stage_run(params, "finetune") as tracker:
        points = shared_grid(params).points
    return tracker.run_id, [[p.task, p.init, p.regime] for p in points]


@task(name="finetune-point", cache_policy=NO_CACHE, task_run_name="finetune {point}")
def finetune_point(params: Params, point: list[Any], run_id: str | None) -> dict[str, Any]:
    """Evaluate one point (skipped when done); returns its mean metrics."""
    doc = shared_grid(params).evaluate(Point(*point), Tracker(run_id, tracking_uri(params)))
    return {"point": point, "mean": doc["mean"]}


def run_finetune_grid(params: Params, record_dvc: bool, parent_run_id: str | None) -> dict[str, Any]:
    """Plan, evaluate every point concurrently (the flow's task runner), then collect."""
    logger = get_run_logger()
    run_id, points = finetune_plan.submit(params, parent_run_id).result()
    futures = finetune_point.map(unmapped(params), points, unmapped(run_id))
    progress = create_progress_artifact(0.0, key="finetune-progress", description="grid points done")
    for done, future in enumerate(as_completed(futures), 1):
        point = future.result()["point"]  # a failing point stops the flow with its own error
        logger.info("finetune: %d of %d points done (%s)", done, len(points), "/".join(map(str, point)))
        update_progress_artifact(progress, 100.0 * done / len(points))
    return TASKS["finetune"].submit(params, record_dvc, run_id, parent_run_id).result()
