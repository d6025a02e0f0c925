"""The finetune stage inside a flow: its grid of (task, init, regime) points mapped as concurrent
Prefect tasks, then the stage task, which collects them and records the stage in dvc.lock."""

from __future__ import annotations

from typing import Any

from prefect import unmapped

from tasks.finetune import finetune, finetune_plan, finetune_point


def run_finetune_grid(
    params_file: str | None, overrides: list[str], record_dvc: bool, parent_run_id: str | None
) -> dict[str, Any]:
    """Plan, evaluate every point concurrently (the flow's task runner), then collect."""
    run_id, points = finetune_plan.submit(params_file, overrides, parent_run_id).result()
    futures = finetune_point.map(unmapped(params_file), unmapped(overrides), points, unmapped(run_id))
    futures.result()  # a failing point stops the flow with its own error
    return finetune.submit(params_file, overrides, record_dvc, run_id, parent_run_id).result()
