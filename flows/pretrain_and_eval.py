"""The `pretrain-and-eval` flow: harvest, detect, curate, shard, pretrain, finetune, report.

Run it directly (`python flows/pretrain_and_eval.py`), serve it (`python flows/serve.py`, which
creates the deployment `pretrain-and-eval/default`), or deploy it with `prefect.yaml` to a process
work pool; then `prefect deployment run 'pretrain-and-eval/default'`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from facerep.params import DEFAULT_PARAMS_FILE, Params
from facerep.stages import STAGES
from flows.stages import StageName, run_flow

# Prefect's thread pool is unbounded by default, and the finetune grid maps dozens of trainings:
# at most PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS of them run at once (Prefect's own setting),
# 2 when it is unset. `flows.scale.on_dask` swaps this runner for a Dask cluster.
WORKERS = get_current_settings().tasks.runner.thread_pool_max_workers or 2


@flow(name="pretrain-and-eval", task_runner=ThreadPoolTaskRunner(max_workers=WORKERS))
def pretrain_and_eval(
    params: Params | None = None,
    params_file: str = DEFAULT_PARAMS_FILE,
    stages: list[StageName] | None = None,
    record_dvc: bool | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline.

    `params`: every stage's parameters (the form of pipeline_params.yaml, validated before any stage
    runs); when empty, `params_file` is read. `stages`: a subset, run in pipeline order. `record_dvc`
    (default: in a DVC project, when the parameters are pipeline_params.yaml's) records each stage's
    outputs in dvc.lock as it finishes, so `dvc status` is clean after the flow.
    """
    return run_flow("pretrain-and-eval", stages or list(STAGES), params, params_file, record_dvc)


if __name__ == "__main__":
    pretrain_and_eval()
