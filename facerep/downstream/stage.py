"""`facerep finetune`: the few-shot evaluation grid (Bulat et al. 3.3-3.4).

For each task, init and regime: the fixed subset (saved under `<paths.results>/splits/<dataset>/`),
a hyper-parameter search on its validation part, then `finetune.seeds` trainings on the whole subset
with the chosen point, scored on test. Writes
`<paths.results>/finetune/<task>/<dataset>/<init>/<regime>/metrics.json` (mean, std and per-seed metrics,
the seeds, the subset id, the chosen hyper-parameters, the search trials) and records each point as
an MLflow run nested under the stage's run. Beside the inits, the pseudo-init `chance` writes each
(task, regime)'s floor, the best constant fitted on the subset's labels (`downstream.chance`), at
`<paths.results>/finetune/<task>/<dataset>/chance/<regime>/metrics.json`. Recognition on a dataset
whose split shares identities trains and tests on an identity-disjoint split of its own
(`splits.identity_disjoint_data`). A finished point is skipped while its fingerprint (the settings,
the backbone file's hash, the data's labels and keys) is unchanged, so an interrupted run resumes
and a new backbone or new data re-runs it.

`facerep.downstream.grid.Grid` holds what every point of one configuration shares (the data, the
backbones, their frozen features); `facerep.downstream.point` runs one point. `run` walks the grid
in order; the Prefect flow maps `Grid.evaluate` over the points concurrently (flows/finetune_grid.py)
through `shared_grid`, and then runs `run`, which finds every point done and collects them.
"""

from __future__ import annotations

import time

from facerep.downstream.grid import forget_grids, shared_grid
from facerep.downstream.inits import init_dirname
from facerep.downstream.tasks import task_class
from facerep.params import Params
from facerep.progress import track
from facerep.stages import StageResult
from facerep.tracking import Tracker


def run(params: Params, tracker: Tracker) -> StageResult:
    """Evaluate every (task, init, regime) point of `finetune` on `finetune.dataset`, one init at a time."""
    grid = shared_grid(params)
    tracker.log_params(
        {
            "finetune.resolved_device": str(grid.run.device),
            "finetune.resolved_precision": grid.run.precision,
            "finetune.resolved_num_workers": grid.run.num_workers,
        }
    )
    result = StageResult()
    start = time.perf_counter()
    try:
        for i, point in enumerate(track(grid.points, "finetune points")):
            doc = grid.evaluate(point, tracker)
            primary = task_class(point.task).primary
            key = f"{point.task}.{init_dirname(point.init)}.{point.regime:g}.{primary}"
            result.metrics[key] = float(doc["mean"][primary])  # type: ignore[index]
            result.outputs.append(grid.path(point))
            if i + 1 == len(grid.points) or grid.points[i + 1].init != point.init:
                grid.release(point.init)
    finally:
        forget_grids()
    result.metrics["finetune.points"] = float(len(result.outputs))
    result.metrics["finetune.seconds"] = time.perf_counter() - start
    return result
