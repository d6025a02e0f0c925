"""Per-point hyper-parameter search (Bulat et al. 3.3, Fig. 2): for each (task, dataset, init, regime)
the learning rate, schedule length and backbone learning-rate multiplier are chosen on a validation
part carved out of the training subset, never on test.

`grid` walks the Cartesian grid of `finetune.search` (a seeded sample of `budget` points when the grid
is larger); `optuna` runs a TPE study over the same categorical choices for `budget` trials.
The caller gives the backbone multipliers and schedule lengths of the point (`stage.search_space`):
a linear probe has no backbone learning rate, and a scratch backbone is never frozen.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from facerep.downstream.config import SearchParams
from facerep.downstream.train import HParams
from facerep.errors import InputError

Objective = Callable[[HParams], float]


def grid_points(search: SearchParams, mults: list[float], steps: list[int]) -> list[HParams]:
    """Every point of the grid: `search.lr` x `steps` x `mults`."""
    return [HParams(lr, n, m) for lr, n, m in itertools.product(search.lr, steps, mults)]


def run_search(
    search: SearchParams, mults: list[float], steps: list[int], objective: Objective, seed: int
) -> tuple[HParams, list[dict]]:
    """The best point by `objective` (larger is better) and the log of every trial."""
    points = grid_points(search, mults, steps)
    if not search.enabled or len(points) == 1:
        return points[0], []
    if search.method == "optuna":
        return _optuna(search, mults, steps, objective, seed)
    if len(points) > search.budget:
        rng = np.random.default_rng(seed)
        points = [points[i] for i in sorted(rng.choice(len(points), search.budget, replace=False))]
    trials = [{**asdict(p), "score": objective(p)} for p in points]
    best = max(range(len(points)), key=lambda i: trials[i]["score"])
    return points[best], trials


def _optuna(
    search: SearchParams, mults: list[float], steps: list[int], objective: Objective, seed: int
) -> tuple[HParams, list[dict]]:
    try:
        import optuna
    except ImportError as exc:
        raise InputError(
            "finetune.search.method=optuna needs the optuna package: pip install 'facerep[optuna]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def trial_fn(trial: optuna.Trial) -> float:
        hp = HParams(
            trial.suggest_categorical("lr", search.lr),
            trial.suggest_categorical("steps", steps),
            trial.suggest_categorical("backbone_lr_mult", mults),
        )
        score = objective(hp)
        return score if np.isfinite(score) else -1e30

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(trial_fn, n_trials=search.budget)
    trials = [{**t.params, "score": t.value} for t in study.trials]
    b = study.best_params
    return HParams(b["lr"], b["steps"], b["backbone_lr_mult"]), trials
