"""Every method pre-trains on SynthFaces-layout faces at 64 px on the CPU, and its loss falls."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from facerep.errors import InputError
from facerep.ssl.backbones import load_backbone
from facerep.ssl.data import view_loader
from facerep.ssl.engine import Engine, NonFiniteLossError
from facerep.ssl.stage import data_root, output_dir

# Short-run settings: fewer local crops, prototypes and queue entries than the papers, learning rates
# large enough to move an 8-image batch in a few steps (the papers' rates assume long runs), and a faster
# MoCo key encoder.
FAST = [
    "pretrain.swav.crops.local_count=2",
    "pretrain.swav.prototypes=100",
    "pretrain.swav.freeze_prototypes_steps=2",
    "pretrain.swav.optim.base_lr=16",
    "pretrain.byol.optim.base_lr=50",
    "pretrain.mocov2.queue_length=16",
    "pretrain.mocov2.optim.base_lr=4",
    "pretrain.mocov2.momentum=0.99",
    "pretrain.simclr.optim.base_lr=16",
    "pretrain.dino.crops.local_count=2",
    "pretrain.dino.output_dim=256",
    "pretrain.dino.freeze_last_layer_steps=2",
    "pretrain.dino.optim.base_lr=0.005",
    "tracking.enabled=false",
]


def engine(params, **kwargs) -> Engine:
    return Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed, **kwargs)


def probe_loss(e: Engine, method: str) -> float:
    """The loss (DINO: its KL part) on two fixed batches with fixed augmentations, state left untouched.

    Fixed batches remove the batch-to-batch noise that dominates a 12-step run at batch 8.
    """
    m = e.method
    saved = {k: v.clone() for k, v in m.state_dict().items()}
    values = []
    with torch.no_grad():
        for batch in itertools.islice(view_loader(e.catalog, e.transform, e.layout, 0), 2):
            views = [v.contiguous(memory_format=e.memory_format) for v in batch["views"]]
            loss, parts = m.training_step(views, 0)
            values.append(float(parts["dino_kl"] if method == "dino" else loss))
    m.load_state_dict(saved)
    return float(np.mean(values))


@pytest.mark.parametrize(
    ("method", "backbone"),
    [("swav", "resnet_tiny"), ("byol", "resnet_tiny"), ("simclr", "resnet_tiny"), ("dino", "vit_tiny_small")],
)
def test_method_trains_and_its_loss_falls(params_for, method: str, backbone: str) -> None:
    params = params_for(
        *FAST, f"pretrain.method={method}", f"pretrain.backbone={backbone}", "pretrain.max_steps=12"
    )
    e = engine(params)
    before = probe_loss(e, method)
    result = e.fit()
    assert len(result.losses) == 12 and np.isfinite(result.losses).all()
    after = probe_loss(e, method)
    assert after < before, (before, after, result.losses)
    out = output_dir(params)
    assert (out / "last.ckpt").is_file()
    backbone_net = load_backbone(out / "backbone.pt")
    assert backbone_net.arch == backbone
    assert backbone_net(torch.zeros(2, 3, 64, 64)).shape == (2, backbone_net.feature_dim)


def test_mocov2_fills_its_queue_with_keys_and_moves_its_key_encoder_by_ema(params_for) -> None:
    """MoCo v2's loss needs far more than a dozen steps to fall: at random initialisation every key is
    nearly the same point, so InfoNCE sits at chance, ln(1 + queue), until the key encoder separates
    faces. What a short run can show: the queue holds the unit-norm keys of the last steps (from both
    views), and the key encoder is an EMA that trails the query encoder."""
    params = params_for(*FAST, "pretrain.method=mocov2", "pretrain.max_steps=3")
    e = engine(params)
    init_queue = e.method.queue.clone()
    init_key = [p.detach().clone() for p in e.method.key_backbone.parameters()]
    result = e.fit()
    assert np.isfinite(result.losses).all() and result.losses[0] < 2 * np.log(1 + 16)
    queue = e.method.queue
    torch.testing.assert_close(queue.norm(dim=1), torch.ones(16))
    assert not torch.isclose(queue, init_queue).all(dim=1).any()  # 2 x 8 keys per step replace it all
    online = list(e.method.backbone.parameters())
    moved = [
        (k - k0).norm() > 0 and (k - o).norm() > 0
        for k, k0, o in zip(e.method.key_backbone.parameters(), init_key, online, strict=True)
        if k.ndim > 1
    ]
    assert all(moved)


def test_resume_from_a_mid_epoch_checkpoint_repeats_the_uninterrupted_losses(
    params_for, tmp_path: Path
) -> None:
    """Run A trains 6 steps in a data worker; run B starts from A's step-3 checkpoint (mid-epoch) and
    reads in its own process (the same single reading stream)."""
    sets = [
        *FAST,
        "pretrain.method=swav",
        "pretrain.swav.queue_length=32",
        "pretrain.max_steps=6",
        "pretrain.checkpoint_every=3",
        "pretrain.deterministic=true",
    ]
    a = params_for(*sets, "pretrain.num_workers=1")
    b_dir = tmp_path / "resumed"
    saved: list[int] = []

    def keep_step3(metrics: dict[str, float], step: int) -> None:
        if step == 4:  # the step-3 checkpoint is on disk, step 4's is not yet
            (b_dir / "pretrain" / "swav").mkdir(parents=True)
            (b_dir / "pretrain" / "swav" / "last.ckpt").write_bytes(
                (output_dir(a) / "last.ckpt").read_bytes()
            )
            saved.append(step)

    full = engine(a, log=keep_step3).fit()
    assert saved == [4]
    b = params_for(*sets, "pretrain.num_workers=0", f"paths.models={b_dir}")
    resumed = engine(b).fit()
    assert resumed.start_step == 3
    np.testing.assert_allclose(resumed.losses, full.losses[3:], rtol=1e-5)
    again = engine(b).fit()  # finished: nothing more to do, outputs still there
    assert again.losses == [] and again.steps == 6
    for change, named in [
        ("pretrain.num_workers=2", r"pretrain\.num_workers \(1 -> 2\)"),  # would repeat or skip images
        ("pretrain.swav.temperature=0.2", r"pretrain\.swav\.temperature \(0\.1 -> 0\.2\)"),
        ("pretrain.max_steps=8", r"pretrain\.max_steps \(6 -> 8\)"),  # the schedules stretch with it
    ]:
        other = params_for(*sets, change, f"paths.models={b_dir}")
        with pytest.raises(InputError, match=named):
            engine(other).fit()


def test_non_finite_loss_stops_with_a_clear_message(params_for) -> None:
    params = params_for(
        *FAST,
        "pretrain.method=byol",
        "pretrain.byol.optim.name=sgd",
        "pretrain.byol.optim.base_lr=1e36",
        "pretrain.max_steps=5",
    )
    with pytest.raises(NonFiniteLossError, match=r"pretrain.byol: loss is (nan|inf) at step \d"):
        engine(params).fit()
    assert not (output_dir(params) / "backbone.pt").exists()


def test_a_checkpoint_of_another_method_is_refused(params_for, tmp_path: Path) -> None:
    from facerep.errors import InputError

    params = params_for(*FAST, "pretrain.method=simclr", "pretrain.max_steps=1")
    engine(params).fit()
    other = params_for(
        *FAST, "pretrain.method=simclr", "pretrain.backbone=resnet18_small", "pretrain.max_steps=1"
    )
    with pytest.raises(InputError, match=r"last\.ckpt: written by a backbone 'resnet_tiny' run"):
        engine(other).fit()
