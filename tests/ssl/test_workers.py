"""`pretrain.num_workers: null`: the data workers default to the cores this process may use, shared
by the processes of the node, less one each; the resolved count is what a checkpoint's identity holds
and what the stage logs to MLflow."""

from __future__ import annotations

import os

import pytest

from facerep.errors import InputError
from facerep.ssl import engine as engine_module
from facerep.ssl.config import PretrainParams
from facerep.ssl.engine import Engine, default_workers
from facerep.ssl.stage import data_root, output_dir
from facerep.ssl.stage import run as run_pretrain
from facerep.stages import StageResult

FAST = [
    "pretrain.method=simclr",
    "pretrain.max_steps=2",
    "pretrain.num_workers=null",
    "tracking.enabled=false",
]


def cores(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)


def test_the_default_is_the_cores_per_process_less_one(monkeypatch) -> None:
    assert PretrainParams().num_workers is None
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for n, local, workers in [(16, 1, 15), (16, 4, 3), (16, 8, 1), (2, 1, 1), (1, 1, 1), (4, 8, 1)]:
        cores(monkeypatch, n)
        assert default_workers(local) == workers, (n, local)
    cores(monkeypatch, 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun --nproc_per_node 4
    assert default_workers() == 3


def engine(params) -> Engine:
    return Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed)


def test_a_resume_on_the_same_machine_matches_and_another_core_count_is_named(
    params_for, monkeypatch
) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cores(monkeypatch, 2)
    params = params_for(*FAST)
    first = engine(params)
    assert first.num_workers == 1 and first.identity()["pretrain.num_workers"] == 1
    assert first.fit().steps == 2
    again = engine(params).fit()  # the same machine: the checkpoint is this run's
    assert again.losses == [] and again.steps == 2
    explicit = engine(params_for(*FAST, "pretrain.num_workers=1")).fit()  # what null resolved to
    assert explicit.losses == []
    cores(monkeypatch, 4)
    with pytest.raises(InputError, match=r"pretrain\.num_workers \(1 -> 3\)"):
        engine(params).fit()


class Recorder:
    """A tracker that keeps what the stage logs."""

    enabled = False  # no backbone registration
    run_id = None

    def __init__(self) -> None:
        self.params: dict[str, object] = {}

    def log_params(self, params: dict[str, object]) -> None:
        self.params |= params

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass


def test_the_stage_logs_the_resolved_worker_count(params_for, monkeypatch) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(engine_module, "default_workers", lambda: 0)  # in-process: no fork here
    tracker = Recorder()
    result = run_pretrain(params_for(*FAST, "pretrain.max_steps=1"), tracker)  # type: ignore[arg-type]
    assert isinstance(result, StageResult)
    assert tracker.params == {"pretrain.resolved_num_workers": 0}
