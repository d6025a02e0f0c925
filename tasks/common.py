"""The one way a stage becomes a Prefect task: parameters in, the stage's output paths out.

A task loads the parameters itself (from the file plus overrides), so it can run on any worker,
runs the library stage, and then, when asked, records the stage's outputs in dvc.lock with
`dvc commit`, so that after a Prefect run `dvc status` is clean and DVC alone caches the data.
Prefect's own result caching is off (`NO_CACHE`): DVC and Prefect never both cache.
"""

from __future__ import annotations

import subprocess
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from facerep.params import load_params
from facerep.stages import run_stage
from facerep.tracking import adopt_parent


def record_in_dvc(stage: str) -> None:
    """Record `stage`'s current deps and outs in dvc.lock (the workspace must be a DVC project)."""
    proc = subprocess.run(["dvc", "commit", "--force", stage], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc commit {stage} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def stage_task(stage: str, retries: int = 0, retry_delay_seconds: list[float] | None = None) -> Task:
    """A Prefect task running `stage`; network stages get retries with backoff."""

    @task(
        name=stage,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds or [10, 60, 300][: max(retries, 1)],
        cache_policy=NO_CACHE,
    )
    def run(
        params_file: str | None,
        overrides: list[str],
        record_dvc: bool,
        run_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> dict[str, Any]:
        logger = get_run_logger()
        adopt_parent(parent_run_id)
        result = run_stage(stage, load_params(params_file, overrides), run_id)
        for name, value in result.metrics.items():
            logger.info("%s: %s = %s", stage, name, value)
        if record_dvc:
            record_in_dvc(stage)
        return {"outputs": [str(p) for p in result.outputs], "metrics": result.metrics}

    return run
