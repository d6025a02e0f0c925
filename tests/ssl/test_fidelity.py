"""Per-method settings the papers fix beyond their losses reach the training step: colour-jitter
strengths, DINO's per-parameter gradient clipping, MoCo v2's asymmetric loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms as T

from facerep.params import Params
from facerep.ssl.backbones import build_backbone
from facerep.ssl.base import TrainContext
from facerep.ssl.engine import Engine, clip_per_parameter
from facerep.ssl.methods.mocov2 import MoCoV2
from facerep.ssl.registry import get_method
from facerep.ssl.stage import data_root, output_dir

SIMCLR, BYOL, MOCO = (0.8, 0.8, 0.8, 0.2), (0.4, 0.4, 0.2, 0.1), (0.4, 0.4, 0.4, 0.1)
PAPER_JITTER = {
    "swav": SIMCLR,  # SwAV's code: SimCLR's colour distortion at s = 1
    "simclr": SIMCLR,  # SimCLR appendix A
    "byol": BYOL,  # BYOL Table 6
    "dino": BYOL,  # DINO's code: BYOL's
    "mocov2": MOCO,  # MoCo v2's code
    "pros": BYOL,  # DINO's, which ProS builds on
    "fra": BYOL,  # "the same augmentation strategy as [BYOL]" (FRA 4.1.1)
    "simfle": SIMCLR,  # "the augmentation list of SimCLR" (SimFLE 4.1)
    "pcl": SIMCLR,  # paper silent; its face contrast is SimCLR's NT-Xent
}


def _color_jitters(transform: object) -> list[T.ColorJitter]:
    """Every ColorJitter inside a (nested) torchvision Compose / RandomApply."""
    found: list[T.ColorJitter] = []
    stack = [transform]
    while stack:
        t = stack.pop()
        if isinstance(t, T.ColorJitter):
            found.append(t)
        for attr in ("transforms", "views", "global_views", "local_random"):
            inner = getattr(t, attr, None)
            if inner is not None:
                stack.extend(inner if isinstance(inner, list | tuple) else [inner])
    return found


@pytest.mark.parametrize("method", sorted(PAPER_JITTER))
def test_each_method_views_use_its_papers_colour_jitter(method: str) -> None:
    """The default `crops.color_jitter` of each method is its paper's, and its views apply exactly it
    times `crops.jitter` (1 but for SwAV's demo-scale 0.4; torchvision keeps a strength s as the factor
    range [1 - s, 1 + s], hue as [-h, h])."""
    params = getattr(Params().pretrain, method)
    assert params.crops.color_jitter == PAPER_JITTER[method]
    backbone = build_backbone("resnet_tiny")
    transform = get_method(method)(backbone, params, TrainContext(10, 5, 32)).transform()
    jitters = _color_jitters(transform)
    assert len(jitters) >= 2
    b, c, s, h = (x * params.crops.jitter for x in PAPER_JITTER[method])
    for cj in jitters:
        assert cj.brightness == pytest.approx((1 - b, 1 + b))
        assert cj.contrast == pytest.approx((1 - c, 1 + c))
        assert cj.saturation == pytest.approx((1 - s, 1 + s))
        assert cj.hue == pytest.approx((-h, h))


def test_clip_per_parameter_caps_each_gradient_norm_alone() -> None:
    """DINO's `clip_gradients`: a gradient of norm 5 is scaled to norm 2, one of norm 1 is left as it
    is; one global norm would scale both by 2 / sqrt(26)."""
    big, small = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    big.grad, small.grad = torch.tensor([3.0, 4.0]), torch.tensor([0.6, 0.0, 0.8])
    clip_per_parameter(torch.optim.SGD([big, small], lr=0.1), 2.0)
    torch.testing.assert_close(big.grad, torch.tensor([1.2, 1.6]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(small.grad, torch.tensor([0.6, 0.0, 0.8]))


@pytest.mark.parametrize(
    ("method", "sets", "per_parameter"),
    [
        (
            "dino",
            ["pretrain.dino.output_dim=64", "pretrain.dino.hidden_dim=32", "pretrain.dino.bottleneck_dim=16"],
            True,
        ),
        (
            "byol",
            [
                "pretrain.byol.optim.clip_grad=3.0",
                "pretrain.byol.hidden_dim=32",
                "pretrain.byol.output_dim=16",
            ],
            False,
        ),
    ],
)
def test_the_engine_clips_as_each_method_declares(
    params_for, monkeypatch: pytest.MonkeyPatch, method: str, sets: list[str], per_parameter: bool
) -> None:
    """DINO declares per-parameter clipping at 3 (its `clip_gradients`), and the engine's step runs it on
    the step's gradients, leaving every parameter's gradient norm at most 3; a method that declares a
    global clip (here BYOL given `clip_grad`) gets `clip_grad_norm_` instead."""
    import facerep.ssl.engine as engine_module

    calls: list[tuple[str, float, float]] = []
    real_per_parameter, real_global = engine_module.clip_per_parameter, torch.nn.utils.clip_grad_norm_

    def per_parameter_spy(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
        real_per_parameter(optimizer, max_norm)
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        calls.append(("per_parameter", max_norm, max(float(g.norm()) for g in grads)))

    def global_spy(parameters: list[torch.Tensor], max_norm: float) -> torch.Tensor:
        calls.append(("global", max_norm, float("nan")))
        return real_global(parameters, max_norm)

    monkeypatch.setattr(engine_module, "clip_per_parameter", per_parameter_spy)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", global_spy)
    params = params_for(
        f"pretrain.method={method}", f"pretrain.{method}.crops.local_count=2", "pretrain.max_steps=1", *sets
    )
    assert params.pretrain.section(method).optim.clip_per_parameter is per_parameter
    Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed).fit()
    assert [(kind, clip) for kind, clip, _ in calls] == [
        ("per_parameter" if per_parameter else "global", 3.0)
    ]
    if per_parameter:
        assert calls[0][2] <= 3.0 + 1e-4


PROS_TINY = [
    "pretrain.method=pros",
    "pretrain.pros.hidden_dim=64",
    "pretrain.pros.output_dim=32",
    "pretrain.pros.prototypes=64",
    "pretrain.pros.crops.local_count=2",
    "pretrain.pros.crops.local_size=32",
    "pretrain.pros.optim.name=sgd",
    "pretrain.pros.optim.momentum=0.0",
    "pretrain.pros.optim.weight_decay=0.0",
    "pretrain.pros.optim.warmup_fraction=0.0",
    "pretrain.pros.optim.base_lr=64.0",
    "pretrain.pros.optim.clip_grad=1e-3",
    "pretrain.max_steps=1",
    "tracking.enabled=false",
]


def _update_norms(params_for, *sets: str) -> tuple[np.ndarray, float]:
    """Per-parameter norms of one plain-SGD step (update = lr x clipped gradient), and lr x clip."""
    params = params_for(*PROS_TINY, *sets)
    engine = Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed)
    trained = [p for g in engine.optimizer.param_groups for p in g["params"]]
    before = [p.detach().clone() for p in trained]
    engine.fit()
    norms = np.array([(p.detach() - b).norm().item() for p, b in zip(trained, before, strict=True)])
    return norms[norms > 0], engine._last_metrics["lr"] * 1e-3


def test_pros_clips_each_parameter_by_default_and_the_global_norm_on_request(
    params_for, tmp_path: Path
) -> None:
    """ProS (after DINO, whose code it follows) clips each parameter's gradient at 3 by default: with a
    clip far below every gradient norm, every parameter moves by exactly lr x clip. With
    `clip_per_parameter=false` the step's global norm is lr x clip instead."""
    per_param, bound = _update_norms(params_for, f"paths.models={tmp_path / 'a'}")
    assert len(per_param) > 10
    np.testing.assert_allclose(per_param, bound, rtol=1e-3)
    global_, bound = _update_norms(
        params_for, f"paths.models={tmp_path / 'b'}", "pretrain.pros.optim.clip_per_parameter=false"
    )
    assert np.sqrt((global_**2).sum()) == pytest.approx(bound, rel=1e-3)
    assert global_.max() < 0.9 * bound


@pytest.mark.parametrize("symmetric", [False, True])
def test_mocov2_loss_is_asymmetric_by_default(symmetric: bool) -> None:
    """MoCo v2 (its Algorithm 1 and code): query from the first view, key from the second, and those keys
    alone are queued; `symmetric` adds the swapped pair. Checked against InfoNCE computed by hand on the
    encoders' outputs."""
    params = Params().pretrain.mocov2.model_copy(
        update={"queue_length": 16, "hidden_dim": 32, "output_dim": 8, "symmetric": symmetric}
    )
    torch.manual_seed(0)
    method = MoCoV2(build_backbone("resnet_tiny"), params, TrainContext(10, 5, 4))
    views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    queue = method.queue.clone()
    loss, _ = method.training_step(views, 0)
    with torch.no_grad():
        q = [method.projector(method.backbone(v)).numpy() for v in views]
        k = [method.key_projector(method.key_backbone(v)).numpy() for v in views]

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def infonce(query: np.ndarray, key: np.ndarray) -> float:
        qn, kn = unit(query), unit(key)
        logits = np.concatenate([(qn * kn).sum(1, keepdims=True), qn @ queue.numpy().T], axis=1) / 0.2
        return float(np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0]))

    expected = infonce(q[0], k[1]) + (infonce(q[1], k[0]) if symmetric else 0.0)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    queued = np.concatenate([k[1], k[0]] if symmetric else [k[1]])
    np.testing.assert_allclose(method.queue[: len(queued)].numpy(), unit(queued), atol=1e-5)
    torch.testing.assert_close(method.queue[len(queued) :], queue[: 16 - len(queued)])
