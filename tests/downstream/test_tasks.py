"""Each task head trains a few steps on SynthFaces-layout faces and its metric moves the right way;
heatmap rendering and sub-pixel decoding invert each other."""

from __future__ import annotations

import pytest
import torch
from downstream_fixtures import small_params

from facerep.downstream.datasets import load_dataset
from facerep.downstream.heatmaps import decode, render
from facerep.downstream.tasks import make_task, task_names
from facerep.downstream.tasks.landmarks import Landmarks
from facerep.downstream.train import HParams, TrainSpec, evaluate, fit, primary_score
from facerep.ssl.backbones import build_backbone


def test_heatmap_decoding_is_sub_pixel():
    pts = torch.rand(4, 5, 2) * 0.8 + 0.1
    back = decode(render(pts, 16, 16, sigma=1.0))
    assert (back - pts).abs().max() < 0.01  # a sixth of a heatmap pixel


@pytest.fixture(scope="module")
def data(synth_root):
    """32 px and 96 training faces: enough for a metric to move, cheap on a shared 2-core CPU."""
    return load_dataset("synthfaces", synth_root, 32, 96, 32)


@pytest.mark.parametrize("name", task_names())
def test_head_learns(data, name):
    """Fine-tuned 25 steps, the training faces' metric beats the same model after one tiny step."""
    task = Landmarks(width=16) if name == "landmarks" else make_task(name)
    torch.manual_seed(0)
    backbone = build_backbone("resnet_tiny")
    spec = TrainSpec(batch_size=16, weight_decay=0.0)
    untrained = fit(task, backbone, data, data.train, HParams(1e-8, 1, 1.0), spec, seed=0)
    trained = fit(task, backbone, data, data.train, HParams(3e-3, 25, 1.0), spec, seed=0)
    before = primary_score(task, evaluate(untrained, data.train, data))
    after = primary_score(task, evaluate(trained, data.train, data))
    assert after > before, (name, before, after)


def test_linear_probe_freezes_backbone_and_batchnorm(data):
    torch.manual_seed(0)
    backbone = build_backbone("resnet_tiny")
    state = {k: v.clone() for k, v in backbone.state_dict().items()}
    spec = TrainSpec(batch_size=32, weight_decay=0.0)
    fit(make_task("expression"), backbone, data, data.train, HParams(1e-2, 5, 0.0), spec, seed=0)
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, state[k]), k  # running BN statistics included


def test_params_validate(tmp_path, synth_root):
    from facerep.errors import InputError

    with pytest.raises(InputError, match=r"finetune\.tasks"):
        small_params(tmp_path, synth_root, "finetune.tasks=[smile]")


def test_probe_then_finetune_of_one_init_moves_the_backbone(tmp_path, synth_root, data):
    """The grid's order: a frozen probe of an init, then a fine-tuning point of the same cached
    backbone. The probe must leave the shared backbone trainable, so fine-tuning changes its copy."""
    from facerep.downstream.grid import Backbones

    nets = Backbones(small_params(tmp_path, synth_root), data)
    shared = nets.net("scratch", 0)
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    task = make_task("expression")
    spec = TrainSpec(batch_size=16, weight_decay=0.0)
    fit(task, nets.net("scratch", 0), data, data.train, HParams(1e-2, 3, 0.0), spec, seed=0)
    tuned = fit(task, nets.net("scratch", 0), data, data.train, HParams(1e-2, 3, 1.0), spec, seed=0)
    moved = [k for k, v in tuned.backbone.named_parameters() if not torch.equal(v, before[k])]
    assert moved, "the fine-tuned backbone kept every weight of its init"
    assert all(torch.equal(v, before[k]) for k, v in shared.state_dict().items())  # the cache is untouched
