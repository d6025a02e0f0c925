"""The finetune stage inside a flow: its grid of (task, init, regime) points mapped as concurrent
Prefect tasks, then the stage task, which collects them and records the stage in dvc.lock. The
`finetune-progress` artifact and a log line follow the points as they finish."""

from __future__ import annotations

from typing import Any

from prefect import unmapped
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.logging import get_run_logger

from facerep.params import Params
from tasks.finetune import finetune, finetune_plan, finetune_point


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
    return finetune.submit(params, record_dvc, run_id, parent_run_id).result()
