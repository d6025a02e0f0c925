"""The finetune stage's grid of (task, init, regime) points and what they share.

`Grid` holds one configuration's points, its data (and each task's own split of it, `Task.own_data`)
and per init the `Backbones`: initial networks and their frozen features, built once. A point's
results are reused while its fingerprint holds: the settings (`settings_hash`), the backbone file's
hash and the data's labels and keys (`data_fingerprint`). `shared_grid` gives the process's grid of
a configuration, so the Prefect flow's concurrent point tasks share one (flows/finetune_grid.py).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import load_dataset, loader
from facerep.downstream.device import Runtime, runtime
from facerep.downstream.inits import init_dirname, init_fingerprint, load_init, resolve_inits
from facerep.downstream.point import CHANCE, run_chance, run_point, split_seed
from facerep.downstream.tasks import make_task, task_class
from facerep.downstream.train import SEEDED_BUILD, Features, encode
from facerep.io import fingerprint, write_json
from facerep.params import Params
from facerep.ssl.backbones import Backbone
from facerep.tracking import Tracker


def data_root(params: Params) -> Path:
    """The folder `finetune.dataset` is read from: the SynthFaces folder, or its published layout."""
    f = params.finetune
    return Path(params.paths.synth) if f.dataset == "synthfaces" else Path(f.datasets_root) / f.dataset


def point_dir(params: Params, task: str, init: str, regime: float) -> Path:
    """`<paths.results>/finetune/<task>/<dataset>/<init>/<regime>/`, where a point's metrics.json goes."""
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
    """The points of one finetune configuration and what they share: the dataset (and each task's
    own split of it), and per init the backbones and their frozen features. The chance floors come
    first (they cost nothing). Thread-safe, so concurrent point tasks can share one."""

    def __init__(self, params: Params) -> None:
        f = params.finetune
        self.params = params
        self.run = runtime(f)  # first: a device that is not there fails before any data is read
        self.data = load_dataset(f.dataset, data_root(params), f.image_size, f.max_train, f.max_test)
        served = loader(f.dataset).tasks
        tasks = [t for t in f.tasks if t in served and _split_has(self.data.train, task_class(t).label)]
        inits = [CHANCE, *resolve_inits(params)]
        self.points = [Point(t, i, r) for i in inits for t in tasks for r in f.regimes]
        own = {t: task_class(t).own_data(self.data, split_seed(params)) for t in tasks}
        self.views = {t: data for t, data in own.items() if data is not None}
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
        task = make_task(point.task, self.params.finetune)
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
    `forget_grids` at the end of a stage's run, so the next run reads the data and backbones afresh)."""
    key = fingerprint(params.model_dump(mode="json"), length=64)
    with _GRIDS_LOCK:
        if key not in _GRIDS:
            _GRIDS.clear()  # one configuration at a time: a new one frees the previous one's memory
            _GRIDS[key] = Grid(params)
        return _GRIDS[key]


def forget_grids() -> None:
    """Drop this process's grids (and with them their data, backbones and features)."""
    with _GRIDS_LOCK:
        _GRIDS.clear()
