"""Each loss against an independent NumPy computation of its paper equation on fixed tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightly.loss import NTXentLoss
from lightly.loss.swav_loss import sinkhorn as lightly_sinkhorn

from facerep.ssl.config import OptimParams
from facerep.ssl.losses.byol import byol_loss
from facerep.ssl.losses.dino import center_update, dino_loss, teacher_entropy
from facerep.ssl.losses.infonce import infonce, ntxent
from facerep.ssl.losses.sinkhorn import sinkhorn
from facerep.ssl.losses.swav import swav_loss
from facerep.ssl.optim import cosine, lr_at, warmup_cosine


def fixed(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape)).float()


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def softmax(x: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(x))


def test_sinkhorn_meets_marginals_and_matches_the_converged_transport_plan() -> None:
    scores = fixed(12, 5).tanh()
    q3 = sinkhorn(scores, epsilon=0.05, iterations=3).double().numpy()
    np.testing.assert_allclose(q3.sum(axis=1), 1.0, atol=1e-6)  # each sample's code is a distribution
    q = sinkhorn(scores, epsilon=0.5, iterations=500).double().numpy()
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(q.sum(axis=0), 12 / 5, atol=1e-4)  # equipartition over prototypes
    # independent: the entropic transport plan diag(u) K diag(v) by Sinkhorn's u/v scaling (float64)
    k = np.exp(scores.double().numpy() / 0.5)
    r, c = np.full(12, 1 / 12), np.full(5, 1 / 5)
    u, v = np.ones(12), np.ones(5)
    for _ in range(2000):
        u = r / (k @ v)
        v = c / (k.T @ u)
    plan = u[:, None] * k * v[None, :]
    np.testing.assert_allclose(q, plan * 12, atol=1e-5)


def test_sinkhorn_equals_lightlys_implementation() -> None:
    scores = fixed(16, 30, seed=1).tanh()
    torch.testing.assert_close(
        sinkhorn(scores, 0.05, 3), lightly_sinkhorn(scores, 3, 0.05), rtol=1e-4, atol=1e-6
    )


def test_swav_loss_is_the_swapped_cross_entropy_of_eq_2() -> None:
    scores = [fixed(6, 7, seed=s) for s in range(4)]
    codes = [sinkhorn(scores[i], 0.05, 3) for i in range(2)]
    tau = 0.1
    expected = []
    for i in range(2):
        q = codes[i].double().numpy()
        terms = [
            -(q * log_softmax(scores[v].double().numpy() / tau)).sum(axis=1).mean()
            for v in range(4)
            if v != i
        ]
        expected.append(np.mean(terms))
    assert swav_loss(scores, codes, tau).item() == pytest.approx(np.mean(expected), rel=1e-5)


def test_byol_loss_is_eq_2() -> None:
    p, z = fixed(5, 8, seed=2), fixed(5, 8, seed=3)
    expected = ((unit(p.double().numpy()) - unit(z.double().numpy())) ** 2).sum(axis=1).mean()
    assert byol_loss(p, z).item() == pytest.approx(expected, rel=1e-5)


def test_infonce_is_moco_eq_1() -> None:
    q, k, neg = fixed(4, 6, seed=4), fixed(4, 6, seed=5), fixed(9, 6, seed=6)
    qn, kn, nn_ = (unit(t.double().numpy()) for t in (q, k, neg))
    tau = 0.2
    pos = np.exp((qn * kn).sum(axis=1) / tau)
    negs = np.exp(qn @ nn_.T / tau).sum(axis=1)
    expected = -np.log(pos / (pos + negs)).mean()
    assert infonce(q, k, neg, tau).item() == pytest.approx(expected, rel=1e-5)


def test_ntxent_is_simclr_eq_1_and_splits_across_processes() -> None:
    z0, z1 = fixed(5, 6, seed=7), fixed(5, 6, seed=8)
    tau = 0.1
    z = unit(torch.cat([z0, z1]).double().numpy())
    sim = z @ z.T / tau
    n = 5
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denom = sum(np.exp(sim[i, k]) for k in range(2 * n) if k != i)
        losses.append(-np.log(np.exp(sim[i, j]) / denom))
    assert ntxent(z0, z1, tau).item() == pytest.approx(np.mean(losses), rel=1e-5)
    assert ntxent(z0, z1, tau).item() == pytest.approx(NTXentLoss(temperature=tau)(z0, z1).item(), rel=1e-5)
    # two "processes" holding rows 0-2 and 3-4, each against the gathered batch
    parts = [ntxent(z0[a:b], z1[a:b], tau, z0, z1, offset=a).item() * (b - a) for a, b in ((0, 3), (3, 5))]
    assert sum(parts) / n == pytest.approx(np.mean(losses), rel=1e-5)


def test_dino_loss_is_eq_3_over_view_pairs() -> None:
    student = [fixed(3, 10, seed=s) for s in range(4)]
    teacher = [fixed(3, 10, seed=10 + s) for s in range(2)]
    center = fixed(1, 10, seed=20) * 0.1
    ts, tt = 0.1, 0.04
    terms = []
    for t in range(2):
        pt = softmax((teacher[t].double().numpy() - center.double().numpy()) / tt)
        for s in range(4):
            if s != t:
                terms.append((-pt * log_softmax(student[s].double().numpy() / ts)).sum(axis=1).mean())
    assert dino_loss(student, teacher, center, ts, tt).item() == pytest.approx(np.mean(terms), rel=1e-5)
    batch_mean = torch.cat(teacher).mean(dim=0, keepdim=True)
    expected_center = 0.9 * center + 0.1 * batch_mean
    torch.testing.assert_close(center_update(center, batch_mean, 0.9), expected_center)


def test_schedules_warm_up_linearly_then_follow_a_cosine() -> None:
    assert warmup_cosine(0, 100, 10, 1.0, 0.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 1.0, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 1.0, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 1.0, 0.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 1.0, 0.1) == pytest.approx(0.1)
    # BYOL 3.2: tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2
    for k in (0, 30, 77, 100):
        tau = 1 - (1 - 0.996) * (np.cos(np.pi * k / 100) + 1) / 2
        assert cosine(k, 100, 0.996, 1.0) == pytest.approx(tau)
    # Bulat et al. A.1: peak 4.8 at batch 4096 decaying to 0.045
    swav = OptimParams(name="lars", base_lr=0.3, final_lr_ratio=0.045 / 4.8, warmup_fraction=0.05)
    assert lr_at(swav, 5, 100, 4096) == pytest.approx(4.8)
    assert lr_at(swav, 100, 100, 4096) == pytest.approx(0.045)


def test_dino_teacher_entropy_is_the_entropy_of_the_centred_sharpened_targets() -> None:
    teacher = [fixed(3, 10, seed=30 + s) for s in range(2)]
    center = fixed(1, 10, seed=40) * 0.1
    pt = [softmax((t.double().numpy() - center.double().numpy()) / 0.04) for t in teacher]
    expected = np.mean([(-p * np.log(np.clip(p, 1e-12, None))).sum(axis=1).mean() for p in pt])
    assert teacher_entropy(teacher, center, 0.04).item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
