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

`Grid` holds what every point of one configuration shares (the data, the backbones, their frozen
features). `run` walks the grid in order; the Prefect flow maps `Grid.evaluate` over the points
concurrently (flows/finetune_grid.py) through `shared_grid`, and then runs `run`, which finds every
point done and collects them.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facerep.downstream.chance import chance_metrics
from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import DATASETS, load_dataset
from facerep.downstream.device import Runtime, runtime
from facerep.downstream.distill import applies, distill
from facerep.downstream.inits import init_dirname, init_fingerprint, load_init, resolve_inits
from facerep.downstream.search import run_search
from facerep.downstream.splits import identity_disjoint_data, saved_subset, validation_part
from facerep.downstream.tasks import Task, make_task
from facerep.downstream.train import SEEDED_BUILD, Features, HParams, encode, evaluate, fit, primary_score
from facerep.io import fingerprint, write_json
from facerep.params import Params
from facerep.progress import track
from facerep.ssl.backbones import Backbone
from facerep.stages import StageResult
from facerep.tracking import Tracker


def data_root(params: Params) -> Path:
    f = params.finetune
    return Path(params.paths.synth) if f.dataset == "synthfaces" else Path(f.datasets_root) / f.dataset


def point_dir(params: Params, task: str, init: str, regime: float) -> Path:
    f = params.finetune
    return Path(params.paths.results) / "finetune" / task / f.dataset / init_dirname(init) / f"{regime:g}"


def settings_hash(params: Params) -> str:
    """What a finished point depends on besides its own (task, init, regime): a change re-runs it.

    Self-distillation switched off (`distill.rounds: 0`) leaves a point's results as they were, so
    it stays out of the hash: points finished before the option existed remain valid.
    """
    skip = {"tasks", "inits", "regimes"} | ({"distill"} if params.finetune.distill.rounds == 0 else set())
    doc = params.finetune.model_dump(mode="json", exclude=skip)
    doc |= {"seed": params.seed, "data": str(data_root(params))}
    return fingerprint(doc)


def data_fingerprint(data: TaskData) -> str:
    """The data a point was scored on: every item's key and labels in both splits, the verification
    pairs and the dataset's facts. More faces, other labels or another split give another id; the
    pixels are not read (that would cost a pass over the dataset on every run)."""
    splits = {
        name: {"keys": s.keys, "labels": s.labels} for name, s in (("train", data.train), ("test", data.test))
    }
    return fingerprint({"name": data.name, "splits": splits, "pairs": data.pairs, "meta": data.meta})


#: The pseudo-init of the chance floor: written beside the inits, never one of them (`resolve_inits`).
CHANCE = "chance"


def split_seed(params: Params) -> int:
    """The seed of the fixed subsets and of recognition's identity-disjoint split."""
    return params.seed if params.finetune.split_seed is None else params.finetune.split_seed


def fixed_subset(params: Params, task: Task, regime: float, data: TaskData) -> tuple[np.ndarray, str]:
    """Positions in `data.train` of the saved `regime` subset a point of `task` trains on, and its id
    (recognition's keeps a quarter of the identities at 2%), under `<paths.results>/splits/<data.name>/`."""
    identities = data.train.labels["identity"] if task.name == "recognition" else None
    folder = Path(params.paths.results) / "splits" / data.name
    return saved_subset(folder, data.train.keys, regime, split_seed(params), identities)


def recognition_data(data: TaskData, seed: int) -> TaskData | None:
    """Recognition's own split of `data` when the dataset defines no verification pairs and its test
    faces share identities with training (SynthFaces splits by face): `identity_disjoint_data`. None
    when `data` will do (LFW and IJB bring pairs of people their training folders do not hold)."""
    if data.pairs is not None or "identity" not in data.train.labels:
        return None
    if not np.isin(data.test.labels.get("identity", []), data.train.labels["identity"]).any():
        return None
    return identity_disjoint_data(data, seed)


class Backbones:
    """Initial backbones and (linear mode) their frozen features, built once and shared by the grid.

    A scratch backbone is drawn anew per seed (its randomness is part of the seed's variance); a
    pre-trained one is loaded once. A cached backbone is shared by every point of its init, so nothing
    may change it: probes read it frozen through `features`, fine-tuning trains a copy (`fit`).
    """

    def __init__(self, params: Params, data: TaskData, run: Runtime | None = None) -> None:
        self.params, self.data, self.run = params, data, run or Runtime()
        self._nets: dict[tuple[str, int], Backbone] = {}
        self._feats: dict[tuple[str, int, str, bool], Features] = {}

    def net(self, init: str, seed: int) -> Backbone:
        key = (init, seed if init == "scratch" else 0)
        with SEEDED_BUILD:
            if key not in self._nets:
                torch.manual_seed(10_000 + key[1])
                self._nets[key] = load_init(self.params, init).to(self.run.device)
            return self._nets[key]

    def on(self, data: TaskData) -> Backbones:
        """The same backbones over other data (a task's own split), with a feature cache of its own."""
        other = Backbones(self.params, data, self.run)
        other._nets = self._nets
        return other

    def features(self, init: str, seed: int, split: str, maps: bool) -> Features:
        key = (init, seed if init == "scratch" else 0, split, maps)
        if key not in self._feats:
            images = getattr(self.data, split).images
            self._feats[key] = encode(self.net(init, seed), images, maps, self.run)
        return self._feats[key]


def _summary(per_seed: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = per_seed[0].keys()
    mean = {k: float(np.nanmean([m[k] for m in per_seed])) for k in keys}
    std = {k: float(np.nanstd([m[k] for m in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0 for k in keys}
    return mean, std


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


def run_point(
    params: Params, task: Task, init: str, regime: float, data: TaskData, nets: Backbones
) -> dict[str, object]:
    """Subset, search, and the seeded final trainings of one (task, init, regime) point.

    Where `distill.applies`, each final model is also the first teacher of `finetune.distill.rounds`
    rounds of self-distillation (Bulat 3.5) on the training faces outside the subset, passed with
    their labels withheld; the students' test metrics are saved beside the plain ones.
    """
    f = params.finetune
    mults, steps, seeds = search_space(params, task.name, init, regime)
    idx, sid = fixed_subset(params, task, regime, data)
    subset = data.train.take(idx)
    val_pos = validation_part(
        np.arange(len(subset)), f.search.val_fraction, f.search.min_val, split_seed(params)
    )
    fit_pos = np.setdiff1d(np.arange(len(subset)), val_pos)
    common = {"batch_size": f.batch_size, "weight_decay": f.weight_decay, "run": nets.run}

    def feats(hp: HParams, seed: int, split: str, positions: np.ndarray | None = None) -> Features | None:
        """Cached frozen features (multiplier 0), restricted to `positions` of the subset."""
        if hp.backbone_lr_mult > 0:
            return None
        out = nets.features(init, seed, split, task.needs_maps)
        return out if positions is None else out.subset(idx[positions])

    def objective(hp: HParams) -> float:
        fit_part, val_part = subset.take(fit_pos), subset.take(val_pos)
        frozen = hp.backbone_lr_mult == 0
        features = feats(hp, 0, "train", fit_pos)
        model = fit(
            task, nets.net(init, 0), data, fit_part, hp, linear=frozen, seed=0, features=features, **common
        )
        return primary_score(task, evaluate(model, val_part, data, feats(hp, 0, "train", val_pos)))

    best, trials = run_search(f.search, mults, steps, objective, split_seed(params))
    per_seed, per_seed_distilled = [], []
    everything = np.arange(len(subset))
    frozen = best.backbone_lr_mult == 0
    # self-distillation's unlabeled part: the training faces outside the subset, their labels withheld
    rest = np.setdiff1d(np.arange(len(data.train)), idx) if applies(f, task, init, regime) else idx[:0]
    unlabeled = Split(data.train.images.take(rest), {}, [data.train.keys[i] for i in rest])
    rest_features = (
        nets.features(init, 0, "train", task.needs_maps).subset(rest) if frozen and len(rest) else None
    )
    for seed in range(seeds):
        features = feats(best, seed, "train", everything)
        model = fit(
            task,
            nets.net(init, seed),
            data,
            subset,
            best,
            linear=frozen,
            seed=seed,
            features=features,
            **common,
        )
        per_seed.append(evaluate(model, data.test, data, feats(best, seed, "test")))
        if len(rest):
            student = distill(
                task,
                model,
                nets.net(init, seed),
                data,
                subset,
                unlabeled,
                best,
                rounds=f.distill.rounds,
                unlabeled_weight=f.distill.unlabeled_weight,
                seed=seed,
                labeled_features=features,
                unlabeled_features=rest_features,
                **common,
            )
            per_seed_distilled.append(evaluate(student, data.test, data, feats(best, seed, "test")))
    mean, std = _summary(per_seed)
    doc: dict[str, object] = {
        "task": task.name,
        "dataset": f.dataset,
        "init": init,
        "regime": regime,
        "mode": f.mode,
        "primary": task.primary,
        "higher_is_better": task.higher_is_better,
        "mean": mean,
        "std": std,
        "per_seed": per_seed,
        "seeds": list(range(seeds)),
        "subset_id": sid,
        "subset_size": len(subset),
        "val_size": len(val_pos),
        "hparams": {"lr": best.lr, "steps": best.steps, "backbone_lr_mult": best.backbone_lr_mult},
        "search": trials,
    }
    if per_seed_distilled:
        mean_distilled, std_distilled = _summary(per_seed_distilled)
        doc |= {
            "per_seed_distilled": per_seed_distilled,
            "mean_distilled": mean_distilled,
            "std_distilled": std_distilled,
        }
    return doc


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


def _split_has(split: Split, label: str) -> bool:
    return label in split.labels and len(split) > 0


@dataclass(frozen=True)
class Point:
    """One evaluation of the grid: a task, an initialisation and a label fraction."""

    task: str
    init: str
    regime: float

    @property
    def name(self) -> str:
        return f"{self.task}/{init_dirname(self.init)}/{self.regime:g}"


class Grid:
    """The points of one finetune configuration and what they share: the dataset (and recognition's
    identity-disjoint split of it), and per init the backbones and their frozen features. The chance
    floors come first (they cost nothing). Thread-safe, so concurrent point tasks can share one."""

    def __init__(self, params: Params) -> None:
        f = params.finetune
        self.params = params
        self.run = runtime(f)  # first: a device that is not there fails before any data is read
        self.data = load_dataset(f.dataset, data_root(params), f.image_size, f.max_train, f.max_test)
        tasks = [
            t for t in f.tasks if t in DATASETS[f.dataset] and _split_has(self.data.train, make_task(t).label)
        ]
        inits = [CHANCE, *resolve_inits(params)]
        self.points = [Point(t, i, r) for i in inits for t in tasks for r in f.regimes]
        recognition = recognition_data(self.data, split_seed(params)) if "recognition" in tasks else None
        self.views = {"recognition": recognition} if recognition is not None else {}
        self.settings, self.data_print = settings_hash(params), data_fingerprint(self.data)
        self._inits: dict[str, str | None] = {}
        self._nets: dict[tuple[str, str], Backbones] = {}
        self._lock = threading.Lock()

    def task_data(self, task: str) -> TaskData:
        """The data `task`'s points train and test on: the dataset, or the task's own split of it."""
        return self.views.get(task, self.data)

    def nets(self, init: str, task: str) -> Backbones:
        """`init`'s backbones, with frozen features of `task`'s data (the networks are shared)."""
        with self._lock:
            base = self._nets.setdefault((init, ""), Backbones(self.params, self.data, self.run))
            if task not in self.views:
                return base
            return self._nets.setdefault((init, task), base.on(self.views[task]))

    def release(self, init: str) -> None:
        """Drop an init's backbones and features (the sequential walk keeps one init in memory)."""
        with self._lock:
            for key in [k for k in self._nets if k[0] == init]:
                del self._nets[key]
            self._inits.pop(init, None)

    def fingerprint(self, point: Point) -> dict[str, str | None]:
        """What `point`'s results depend on: the settings, its backbone file (none for chance), the data."""
        with self._lock:
            if point.init not in self._inits:
                self._inits[point.init] = (
                    None if point.init == CHANCE else init_fingerprint(self.params, point.init)
                )
            backbone = self._inits[point.init]
        return {"settings": self.settings, "backbone": backbone, "data": self.data_print}

    def path(self, point: Point) -> Path:
        """Where `point`'s metrics.json goes."""
        return point_dir(self.params, point.task, point.init, point.regime) / "metrics.json"

    def done(self, point: Point) -> dict[str, object] | None:
        """The metrics.json of `point` when it was written with this fingerprint."""
        path = self.path(point)
        doc = json.loads(path.read_text()) if path.is_file() else None
        return doc if doc is not None and doc.get("fingerprint") == self.fingerprint(point) else None

    def evaluate(self, point: Point, tracker: Tracker) -> dict[str, object]:
        """Run `point` unless done; a computed point is written and recorded as a child run."""
        doc = self.done(point)
        if doc is not None:
            return doc
        f = self.params.finetune
        task = make_task(point.task, f.heatmap_sigma, f.cosface_margin, f.cosface_scale, f.heatmap_width)
        tags = {"facerep.stage": "finetune-point", "facerep.finetune.point": point.name}
        with tracker.child_run(f"finetune {point.name}", tags) as child:  # open while it runs
            start = time.perf_counter()
            data = self.task_data(point.task)
            if point.init == CHANCE:
                doc = run_chance(self.params, task, point.regime, data)
            else:
                doc = run_point(
                    self.params, task, point.init, point.regime, data, self.nets(point.init, point.task)
                )
            doc["fingerprint"] = self.fingerprint(point)
            write_json(self.path(point), doc)
            hparams, mean, std = doc["hparams"], doc["mean"], doc["std"]
            distilled = {f"distilled_{k}": v for k, v in doc.get("mean_distilled", {}).items()}
            child.log_params({"task": point.task, "init": point.init, "regime": point.regime, **hparams})
            child.log_metrics(
                {
                    **mean,
                    **{f"{k}_std": v for k, v in std.items()},
                    **distilled,
                    "seconds": time.perf_counter() - start,
                }
            )
        return doc


_GRIDS: dict[str, Grid] = {}
_GRIDS_LOCK = threading.Lock()


def shared_grid(params: Params) -> Grid:
    """This process's `Grid` for `params` (built once: concurrent point tasks share data and features;
    `run` forgets it at its end, so the next run reads the data and backbones afresh)."""
    key = fingerprint(params.model_dump(mode="json"), length=64)
    with _GRIDS_LOCK:
        if key not in _GRIDS:
            _GRIDS.clear()  # one configuration at a time: a new one frees the previous one's memory
            _GRIDS[key] = Grid(params)
        return _GRIDS[key]


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
            primary = make_task(point.task).primary
            key = f"{point.task}.{init_dirname(point.init)}.{point.regime:g}.{primary}"
            result.metrics[key] = float(doc["mean"][primary])  # type: ignore[index]
            result.outputs.append(grid.path(point))
            if i + 1 == len(grid.points) or grid.points[i + 1].init != point.init:
                grid.release(point.init)
    finally:
        with _GRIDS_LOCK:
            _GRIDS.clear()
    result.metrics["finetune.points"] = float(len(result.outputs))
    result.metrics["finetune.seconds"] = time.perf_counter() - start
    return result
