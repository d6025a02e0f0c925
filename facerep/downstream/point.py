"""One point of the finetune grid (a task, an init, a label fraction), in four steps.

`subset_step` reads the point's fixed subset of the training split and carves its validation part;
`search_step` picks the hyper-parameters on that part (Bulat et al. 3.3); `seeds_step` trains
`finetune.seeds` models on the whole subset with them, scores each on test, and self-distils each
where `distill.applies` (Bulat 3.5); `record` writes it all as the point's metrics.json document.
`run_chance` is the chance floor's point: the best constant on the subset's labels, nothing trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facerep.downstream.chance import chance_metrics
from facerep.downstream.data import Split, TaskData
from facerep.downstream.distill import applies, distill
from facerep.downstream.search import run_search
from facerep.downstream.splits import saved_subset, validation_part
from facerep.downstream.tasks import Task
from facerep.downstream.train import Features, HParams, TrainSpec, evaluate, fit, primary_score
from facerep.params import Params

if TYPE_CHECKING:
    from facerep.downstream.grid import Backbones

#: The pseudo-init of the chance floor: written beside the inits, never one of them (`resolve_inits`).
CHANCE = "chance"

#: the metrics of one trained model on test
Metrics = dict[str, float]


def split_seed(params: Params) -> int:
    """The seed of the fixed subsets and of a task's own split (`Task.own_data`)."""
    return params.seed if params.finetune.split_seed is None else params.finetune.split_seed


def fixed_subset(params: Params, task: Task, regime: float, data: TaskData) -> tuple[np.ndarray, str]:
    """Positions in `data.train` of the saved `regime` subset a point of `task` trains on, and its id
    (whole groups of `task.subset_groups` where the task names one: recognition's keeps a quarter of
    the identities at 2%), under `<paths.results>/splits/<data.name>/`."""
    groups = data.train.labels[task.subset_groups] if task.subset_groups is not None else None
    folder = Path(params.paths.results) / "splits" / data.name
    return saved_subset(folder, data.train.keys, regime, split_seed(params), groups)


def search_space(params: Params, task: str, init: str, regime: float) -> tuple[list[float], list[int], int]:
    """Backbone multipliers, schedule lengths and seed count of one point.

    A linear probe freezes every backbone (multiplier 0). In `finetune` mode a multiplier of 0 is a
    probe of that init's frozen features, which a scratch backbone never gets: its random weights
    are the thing it has to learn, so scratch keeps the positive multipliers (1 when none is given),
    or `search.scratch_backbone_lr_mult` when set.
    """
    f = params.finetune
    mults = [0.0] if f.mode == "linear" else list(f.search.backbone_lr_mult)
    if init == "scratch" and f.mode == "finetune":
        candidates = f.search.scratch_backbone_lr_mult or mults
        mults = [m for m in candidates if m > 0] or [1.0]
    return mults, f.search.steps_for(task, regime), f.seeds_by_regime.get(regime, f.seeds)


@dataclass(frozen=True)
class PointSubset:
    """A point's fixed subset: `idx` (positions in the training split), its id, the subset itself,
    and the positions in it of the search's fit and validation parts."""

    idx: np.ndarray
    sid: str
    split: Split
    fit_pos: np.ndarray
    val_pos: np.ndarray


def subset_step(params: Params, task: Task, regime: float, data: TaskData) -> PointSubset:
    """The point's saved subset (`fixed_subset`) and the validation part the search scores on."""
    search = params.finetune.search
    idx, sid = fixed_subset(params, task, regime, data)
    subset = data.train.take(idx)
    everything = np.arange(len(subset))
    val_pos = validation_part(everything, search.val_fraction, search.min_val, split_seed(params))
    return PointSubset(idx, sid, subset, np.setdiff1d(everything, val_pos), val_pos)


@dataclass(frozen=True)
class PointContext:
    """What every step of one point reads: its task, init, data, subset, the grid's backbones and
    frozen features of that init, and the `TrainSpec` every training of the point runs with."""

    task: Task
    init: str
    data: TaskData
    subset: PointSubset
    nets: Backbones
    spec: TrainSpec

    def features(
        self, hp: HParams, seed: int, split: str, positions: np.ndarray | None = None
    ) -> Features | None:
        """Cached frozen features (multiplier 0) of `split`, restricted to `positions` of the subset;
        None when `hp` trains the backbone (its features change as it learns)."""
        if hp.backbone_lr_mult > 0:
            return None
        out = self.nets.features(self.init, seed, split, self.task.needs_maps)
        return out if positions is None else out.subset(self.subset.idx[positions])


def search_step(
    ctx: PointContext, mults: list[float], steps: list[int], params: Params
) -> tuple[HParams, list[dict]]:
    """The chosen hyper-parameters and the log of every trial: each trial fits the subset's fit part
    (seed 0) and scores the primary metric on its validation part, never on test."""
    sub = ctx.subset
    fit_part, val_part = sub.split.take(sub.fit_pos), sub.split.take(sub.val_pos)

    def objective(hp: HParams) -> float:
        features = ctx.features(hp, 0, "train", sub.fit_pos)
        model = fit(
            ctx.task, ctx.nets.net(ctx.init, 0), ctx.data, fit_part, hp, ctx.spec, seed=0, features=features
        )
        return primary_score(
            ctx.task, evaluate(model, val_part, ctx.data, ctx.features(hp, 0, "train", sub.val_pos))
        )

    return run_search(params.finetune.search, mults, steps, objective, split_seed(params))


def seeds_step(
    ctx: PointContext, best: HParams, seeds: int, distils: bool
) -> tuple[list[Metrics], list[Metrics]]:
    """Test metrics of `seeds` models trained on the whole subset with `best`, and, when `distils`,
    of each one's self-distilled student (empty otherwise). The students' unlabelled part is the
    training faces outside the subset, passed with their labels withheld."""
    task, data, sub = ctx.task, ctx.data, ctx.subset
    rest = np.setdiff1d(np.arange(len(data.train)), sub.idx) if distils else sub.idx[:0]
    unlabeled = Split(data.train.images.take(rest), {}, [data.train.keys[i] for i in rest])
    frozen = best.backbone_lr_mult == 0
    rest_features = (
        ctx.nets.features(ctx.init, 0, "train", task.needs_maps).subset(rest)
        if frozen and len(rest)
        else None
    )
    everything = np.arange(len(sub.split))
    per_seed, per_seed_distilled = [], []
    for seed in range(seeds):
        features = ctx.features(best, seed, "train", everything)
        init = ctx.nets.net(ctx.init, seed)
        model = fit(task, init, data, sub.split, best, ctx.spec, seed=seed, features=features)
        per_seed.append(evaluate(model, data.test, data, ctx.features(best, seed, "test")))
        if len(rest):
            student = distill(
                task,
                model,
                init,
                data,
                sub.split,
                unlabeled,
                best,
                ctx.spec,
                seed=seed,
                labeled_features=features,
                unlabeled_features=rest_features,
            )
            per_seed_distilled.append(evaluate(student, data.test, data, ctx.features(best, seed, "test")))
    return per_seed, per_seed_distilled


def summary(per_seed: list[Metrics]) -> tuple[Metrics, Metrics]:
    """Mean and sample std of each metric over seeds (NaN seeds left out; one seed: std 0)."""
    keys = per_seed[0].keys()
    mean = {k: float(np.nanmean([m[k] for m in per_seed])) for k in keys}
    std = {k: float(np.nanstd([m[k] for m in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0 for k in keys}
    return mean, std


def record(
    params: Params,
    ctx: PointContext,
    regime: float,
    best: HParams,
    trials: list[dict],
    per_seed: list[Metrics],
    per_seed_distilled: list[Metrics],
) -> dict[str, object]:
    """The point's metrics.json document (docs/finetune.md): mean, std and per-seed test metrics, the
    subset, the chosen hyper-parameters and the search's trials; the students' beside them."""
    f, task = params.finetune, ctx.task
    mean, std = summary(per_seed)
    doc: dict[str, object] = {
        "task": task.name,
        "dataset": f.dataset,
        "init": ctx.init,
        "regime": regime,
        "mode": f.mode,
        "primary": task.primary,
        "higher_is_better": task.higher_is_better,
        "mean": mean,
        "std": std,
        "per_seed": per_seed,
        "seeds": list(range(len(per_seed))),
        "subset_id": ctx.subset.sid,
        "subset_size": len(ctx.subset.split),
        "val_size": len(ctx.subset.val_pos),
        "hparams": {"lr": best.lr, "steps": best.steps, "backbone_lr_mult": best.backbone_lr_mult},
        "search": trials,
    }
    if per_seed_distilled:
        mean_distilled, std_distilled = summary(per_seed_distilled)
        doc |= {
            "per_seed_distilled": per_seed_distilled,
            "mean_distilled": mean_distilled,
            "std_distilled": std_distilled,
        }
    return doc


def run_point(
    params: Params, task: Task, init: str, regime: float, data: TaskData, nets: Backbones
) -> dict[str, object]:
    """Subset, search, seeded final trainings (self-distilled where `distill.applies`), and the
    metrics.json document of one (task, init, regime) point."""
    mults, steps, seeds = search_space(params, task.name, init, regime)
    spec = TrainSpec.of(params.finetune, nets.run)
    ctx = PointContext(task, init, data, subset_step(params, task, regime, data), nets, spec)
    best, trials = search_step(ctx, mults, steps, params)
    per_seed, distilled = seeds_step(ctx, best, seeds, applies(params.finetune, task, init, regime))
    return record(params, ctx, regime, best, trials, per_seed, distilled)


def run_chance(params: Params, task: Task, regime: float, data: TaskData) -> dict[str, object]:
    """The chance floor of `task` at `regime`: the best constant fitted on the labels of the point's
    subset, scored on test (`downstream.chance`), in a point's schema with init and mode `chance`. No
    training and no image: one subset per regime, so one entry per_seed and a std of 0."""
    idx, sid = fixed_subset(params, task, regime, data)
    metrics = chance_metrics(task, data.train.take(idx), data.test, data)
    return {
        "task": task.name,
        "dataset": params.finetune.dataset,
        "init": CHANCE,
        "regime": regime,
        "mode": CHANCE,
        "primary": task.primary,
        "higher_is_better": task.higher_is_better,
        "mean": metrics,
        "std": dict.fromkeys(metrics, 0.0),
        "per_seed": [metrics],
        "seeds": [0],
        "subset_id": sid,
        "subset_size": len(idx),
        "val_size": 0,
        "hparams": {"lr": 0.0, "steps": 0, "backbone_lr_mult": 0.0},
        "search": [],
    }
