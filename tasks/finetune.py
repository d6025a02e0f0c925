"""Prefect tasks of the finetune stage: the stage itself, and the plan and points of its grid.

`finetune_plan` opens the stage's MLflow run and lists the grid's points; `finetune_point` evaluates
one point (a nested MLflow run under the stage's run) and is mapped concurrently by the flow; the
stage task then runs in the same MLflow run, finds every point done, and collects them.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from facerep.downstream.stage import Point, shared_grid
from facerep.params import Params
from facerep.tracking import Tracker, adopt_parent, stage_run, tracking_uri
from tasks.common import stage_task

finetune = stage_task("finetune")


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
