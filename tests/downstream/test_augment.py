"""Fine-tuning augmentation (Bulat et al. A.2): a flip renumbers landmarks into the mirrored markup
and negates yaw and roll, landmarks follow their pixels through rotation and scale, side-specific
labels swap, each task gets its own recipe, and frozen probes are never augmented."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facerep.downstream.augment import MIRROR, Augmenter, make_augmenter, side_swap
from facerep.downstream.config import AugmentParams
from facerep.downstream.datasets import load_dataset
from facerep.downstream.device import Runtime
from facerep.downstream.tasks import make_task
from facerep.downstream.train import HParams, TrainSpec, fit
from facerep.errors import InputError
from facerep.ssl.backbones import build_backbone

ONLY_FLIP = AugmentParams(rotation=0, scale=(1, 1), translate=0, flip=1, colour=0, blur=0)


@pytest.mark.parametrize("points", sorted(MIRROR))
def test_mirror_orders_swap_pairs(points):
    order = np.array(MIRROR[points])
    assert sorted(order) == list(range(points))  # a permutation
    assert (order[order] == np.arange(points)).all()  # mirroring twice is no change
    assert (order != np.arange(points)).sum() >= points // 2  # most points have a twin


def test_ibug68_twins_sit_on_opposite_sides_of_synthfaces_faces(synth_root):
    data = load_dataset("synthfaces", synth_root, 64, None, None)
    pose, lm = data.train.labels["pose"], data.train.labels["landmarks"]
    frontal = lm[(np.abs(pose[:, 0]) < 8) & (np.abs(pose[:, 2]) < 8)]
    assert len(frontal) >= 5
    order = np.array(MIRROR[68])
    mid = frontal[:, order == np.arange(68), 0].mean(axis=1, keepdims=True)  # the self-mirrored points
    side = np.sign(frontal[:, :, 0] - mid)
    twins = order != np.arange(68)
    agree = (side[:, twins] == -side[:, order[twins]]).mean()
    assert agree > 0.95, agree
    # a frontal face mirrored about its midline and renumbered lies on itself, point by point
    centred = frontal.copy()
    centred[:, :, 0] -= mid
    mirrored = centred * np.array([-1.0, 1.0])
    per_point = np.abs(mirrored[:, order] - centred).mean(axis=(0, 2))
    assert per_point.max() < 0.07 and per_point.mean() * 4 < np.abs(mirrored - centred).mean()


def test_flip_mirrors_landmarks_and_negates_yaw_and_roll():
    rng = np.random.default_rng(0)
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    points = torch.rand(68, 2)
    out, moved = Augmenter(ONLY_FLIP, make_task("landmarks"), 16, MIRROR[68])(image, points, rng)
    assert torch.equal(out, image.flip(-1))
    expected = torch.stack([1 - points[:, 0], points[:, 1]], dim=1)[list(MIRROR[68])]
    assert torch.allclose(moved, expected)
    assert torch.allclose(moved[36], torch.tensor([1 - points[45, 0], points[45, 1]]))  # eye corners
    pose = torch.tensor([0.5, -0.2, 0.1])  # yaw, pitch, roll (/ 45)
    out, flipped = Augmenter(ONLY_FLIP, make_task("pose"), 16, None)(image, pose, rng)
    assert torch.equal(out, image.flip(-1)) and torch.allclose(flipped, torch.tensor([-0.5, -0.2, -0.1]))


def test_landmarks_follow_their_pixels():
    size, (x, y) = 64, (40, 22)
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    image[:, y - 1 : y + 2, x - 1 : x + 2] = 255
    points = torch.full((68, 2), 0.5)
    points[36] = torch.tensor([(x + 0.5) / size, (y + 0.5) / size])
    params = AugmentParams(rotation=30, scale=(0.85, 1.15), flip=0.5, colour=0)
    augment = Augmenter(params, make_task("landmarks"), size, MIRROR[68])
    grid = torch.arange(size) + 0.5
    for seed in range(6):
        out, moved = augment(image, points, np.random.default_rng(seed))
        w = out[0].float() / out[0].float().sum()
        centre = torch.stack([(w.sum(0) * grid).sum(), (w.sum(1) * grid).sum()])
        new = moved[36] if torch.allclose(moved[45], points[45]) else moved[45]  # renumbered if flipped
        assert torch.allclose(new * size, centre, atol=0.3), (seed, new * size, centre)


def test_side_specific_labels_swap_and_bilateral_ones_stay():
    names = ["AU12_left", "smile", "au12_RIGHT", "left_eye_closed", "right_eye_closed"]
    assert side_swap(names) == (2, 1, 0, 4, 3)
    target = torch.arange(5.0)
    meta = {"attribute_names": names}
    augment = make_augmenter(ONLY_FLIP, make_task("attributes"), 16, meta, target[None])
    _, flipped = augment(torch.zeros(3, 16, 16, dtype=torch.uint8), target, np.random.default_rng(0))
    assert flipped.tolist() == [2.0, 1.0, 0.0, 4.0, 3.0]
    bilateral = make_augmenter(ONLY_FLIP, make_task("au"), 16, {"au_names": ["au01", "au12"]}, target[None])
    assert bilateral.label_order is None


def test_each_task_gets_its_recipe():
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    no_flip = AugmentParams(flip=0)
    out, _ = Augmenter(no_flip, make_task("recognition"), 32, None)(
        image, torch.tensor(3), np.random.default_rng(0)
    )
    assert torch.equal(out, image)  # recognition: flips only (A.2)
    out, _ = Augmenter(no_flip, make_task("expression"), 32, None)(
        image, torch.tensor(3), np.random.default_rng(0)
    )
    assert not torch.equal(out, image)
    with pytest.raises(InputError, match=r"finetune\.augment\.flip: no mirrored point order for 5-point"):
        make_augmenter(AugmentParams(), make_task("landmarks"), 32, {}, torch.zeros(1, 5, 2))


def test_probes_are_never_augmented_and_fine_tuning_is(synth_root):
    data = load_dataset("synthfaces", synth_root, 32, 48, 8)
    task = make_task("expression")
    torch.manual_seed(0)
    backbone = build_backbone("resnet_tiny")

    def head(linear: bool, augment: AugmentParams | None) -> torch.Tensor:
        hp = HParams(1e-2, 3, 0.0 if linear else 1.0)
        spec = TrainSpec(batch_size=8, weight_decay=0.0, run=Runtime(augment=augment))
        model = fit(task, backbone, data, data.train, hp, spec, seed=0)
        return model.head.fc.weight.detach()

    assert torch.equal(head(True, AugmentParams()), head(True, None))
    assert not torch.equal(head(False, AugmentParams()), head(False, None))
