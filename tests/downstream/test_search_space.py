"""Which hyper-parameters each finetune point searches: frozen probes through the multiplier 0,
scratch backbones that always learn, and per-regime and per-task schedule lengths and seed counts."""

from __future__ import annotations

import json

import pytest
import torch
from downstream_fixtures import small_params

from facerep.downstream.point import search_space
from facerep.errors import InputError
from facerep.ssl.backbones import build_backbone, save_backbone
from facerep.stages import run_stage


def test_scratch_never_freezes_and_regimes_override_steps_and_seeds(tmp_path, synth_root):
    sets = ["finetune.mode=finetune", "finetune.search.backbone_lr_mult=[0.0, 0.1]", "finetune.seeds=2"]
    sets += ["finetune.seeds_by_regime={0.02: 5}", "finetune.search.steps_by_regime={1.0: [40, 80]}"]
    params = small_params(tmp_path, synth_root, *sets)
    assert search_space(params, "au", "scratch", 0.02) == ([0.1], [15], 5)
    assert search_space(params, "au", "pretrain:swav", 1.0) == ([0.0, 0.1], [40, 80], 2)
    only_frozen = small_params(
        tmp_path, synth_root, "finetune.mode=finetune", "finetune.search.backbone_lr_mult=[0]"
    )
    assert search_space(only_frozen, "au", "scratch", 0.1)[0] == [1.0]
    linear = small_params(tmp_path, synth_root, "finetune.mode=linear")
    assert search_space(linear, "au", "scratch", 0.1)[0] == [0.0]


def test_task_schedules_come_before_regime_schedules(tmp_path, synth_root):
    sets = ["finetune.search.steps=[15]", "finetune.search.steps_by_regime={1.0: [40]}"]
    sets.append("finetune.search.steps_by_task={au: {1.0: [600]}, expression: {0.02: [30, 60]}}")
    params = small_params(tmp_path, synth_root, *sets)
    assert search_space(params, "au", "scratch", 1.0)[1] == [600]
    assert search_space(params, "au", "scratch", 0.02)[1] == [15]  # au names no 2% schedule
    assert search_space(params, "expression", "pretrain:swav", 0.02)[1] == [30, 60]
    assert search_space(params, "expression", "scratch", 1.0)[1] == [40]
    assert search_space(params, "pose", "scratch", 1.0)[1] == [40]


def test_task_schedules_name_known_tasks_and_some_steps(tmp_path, synth_root):
    with pytest.raises(InputError, match=r"unknown task.*'emotion'"):
        small_params(tmp_path, synth_root, "finetune.search.steps_by_task={emotion: {1.0: [600]}}")
    with pytest.raises(InputError, match=r"empty schedule list for au: 1\.0"):
        small_params(tmp_path, synth_root, "finetune.search.steps_by_task={au: {1.0: []}}")


def test_scratch_can_train_its_backbone_at_its_own_multiplier(tmp_path, synth_root):
    sets = ["finetune.mode=finetune", "finetune.search.backbone_lr_mult=[0.1]"]
    own = small_params(tmp_path, synth_root, *sets, "finetune.search.scratch_backbone_lr_mult=[1.0, 0.0]")
    assert search_space(own, "au", "scratch", 0.02)[0] == [1.0]  # 0 would freeze a random backbone
    assert search_space(own, "au", "pretrain:swav", 0.02)[0] == [0.1]
    assert search_space(small_params(tmp_path, synth_root, *sets), "au", "scratch", 0.02)[0] == [0.1]
    linear = small_params(
        tmp_path, synth_root, "finetune.mode=linear", "finetune.search.scratch_backbone_lr_mult=[1]"
    )
    assert search_space(linear, "au", "scratch", 0.02)[0] == [0.0]


def test_multiplier_zero_is_the_linear_probe_and_scratch_trains(tmp_path, synth_root):
    torch.manual_seed(3)
    save_backbone(
        build_backbone("resnet_tiny"), tmp_path / "models/pretrain/swav/backbone.pt", {"method": "swav"}
    )
    base = [
        "finetune.tasks=[pose]",
        "finetune.regimes=[1.0]",
        "finetune.image_size=32",
        "finetune.max_train=80",
    ]
    base += ["finetune.max_test=40", "finetune.search.lr=[0.01]", "finetune.seeds_by_regime={1.0: 2}"]
    base.append(f"paths.models={tmp_path / 'models'}")
    probe = small_params(tmp_path / "a", synth_root, *base, "finetune.mode=linear")
    mult0 = ["finetune.mode=finetune", "finetune.search.backbone_lr_mult=[0.0]"]
    frozen = small_params(tmp_path / "b", synth_root, *base, *mult0)
    run_stage("finetune", probe)
    run_stage("finetune", frozen)

    def point(root: str, init: str) -> dict:
        return json.loads(
            (tmp_path / root / "results/finetune/pose/synthfaces" / init / "1/metrics.json").read_text()
        )

    assert point("a", "pretrain-swav")["per_seed"] == point("b", "pretrain-swav")["per_seed"]
    scratch = point("b", "scratch")
    assert scratch["hparams"]["backbone_lr_mult"] == 1.0 and scratch["seeds"] == [0, 1]
    assert point("a", "scratch")["hparams"]["backbone_lr_mult"] == 0.0
    assert scratch["mean"]["mae"] != point("a", "scratch")["mean"]["mae"]
