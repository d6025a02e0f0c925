"""Metrics against independent computations on random data (plain loops, textbook formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facerep.downstream import metrics as M


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def _loop_nme(pred, target, d):
    out = []
    for p, t, n in zip(pred, target, d, strict=True):
        out.append(sum(math.dist(a, b) for a, b in zip(p, t, strict=True)) / len(p) / n)
    return np.array(out)


@pytest.mark.parametrize("k", [68, 98])
def test_nme_each_normalisation(rng, k):
    target = rng.uniform(0, 1, (7, k, 2))
    pred = target + rng.normal(0, 0.01, target.shape)
    a, b = M.OUTER_EYE_CORNERS[k]
    io = [math.dist(t[a], t[b]) for t in target]
    la, ra = M.PUPILS[k]
    ip = [math.dist(t[la].mean(0), t[ra].mean(0)) for t in target]
    boxes = rng.uniform(0, 1, (7, 4)) * [1, 1, 0, 0] + [0, 0, 1.5, 1.7]
    diag = [math.hypot(x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes]
    box = [math.sqrt((x2 - x1) * (y2 - y1)) for x1, y1, x2, y2 in boxes]
    np.testing.assert_allclose(M.nme_per_image(pred, target, "inter_ocular"), _loop_nme(pred, target, io))
    np.testing.assert_allclose(M.nme_per_image(pred, target, "inter_pupil"), _loop_nme(pred, target, ip))
    np.testing.assert_allclose(M.nme_per_image(pred, target, "diag", boxes), _loop_nme(pred, target, diag))
    np.testing.assert_allclose(M.nme_per_image(pred, target, "box", boxes), _loop_nme(pred, target, box))
    assert M.nme(pred, target, "inter_ocular") == pytest.approx(_loop_nme(pred, target, io).mean())


def test_nme_unknown_point_count_is_an_error(rng):
    with pytest.raises(ValueError, match="19 landmarks"):
        M.nme(rng.uniform(size=(2, 19, 2)), rng.uniform(size=(2, 19, 2)), "inter_ocular")


def test_failure_rate_and_auc():
    errors = np.array([0.0, 0.05, 0.2])
    assert M.failure_rate(errors) == pytest.approx(1 / 3)
    # CED: 1/3 at 0, 2/3 from 0.05 to 0.1 -> area (1/3*0.05 + 2/3*0.05) / 0.1 = 0.5
    assert M.auc_ced(errors, points=100001) == pytest.approx(0.5, abs=1e-3)


def _icc31_anova(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(3,1) from explicit sums of squares over an n x 2 table (Shrout and Fleiss, case 3)."""
    table = np.stack([x, y], 1)
    n, k = table.shape
    grand = table.sum() / (n * k)
    bms = sum(k * (row.mean() - grand) ** 2 for row in table) / (n - 1)
    ss_cols = sum(n * (table[:, j].mean() - grand) ** 2 for j in range(k))
    ss_tot = sum((v - grand) ** 2 for v in table.ravel())
    ems = (ss_tot - bms * (n - 1) - ss_cols) / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems)


def test_icc31_against_hand_anova(rng):
    target = rng.uniform(0, 5, (50, 4))
    pred = 0.7 * target + rng.normal(0, 0.8, target.shape) + 0.3
    expected = [_icc31_anova(pred[:, c], target[:, c]) for c in range(4)]
    np.testing.assert_allclose(M.icc_per_column(pred, target), expected)
    assert M.icc(pred, target) == pytest.approx(np.mean(expected))
    assert M.icc(target, target) == pytest.approx(1.0)


def test_ccc_pcc_rmse_sagr(rng):
    t = rng.normal(size=(200, 2))
    p = 0.5 * t + rng.normal(0, 0.5, t.shape) + 0.2
    ccc = [
        2
        * np.cov(p[:, c], t[:, c], bias=True)[0, 1]
        / (p[:, c].var() + t[:, c].var() + (p[:, c].mean() - t[:, c].mean()) ** 2)
        for c in range(2)
    ]
    assert M.ccc(p, t) == pytest.approx(np.mean(ccc), rel=1e-5)
    assert M.pcc(p, t) == pytest.approx(
        np.mean([np.corrcoef(p[:, c], t[:, c])[0, 1] for c in range(2)]), rel=1e-5
    )
    assert M.rmse(p, t) == pytest.approx(np.sqrt(((p - t) ** 2).mean()))
    assert M.sagr(p, t) == pytest.approx(
        np.mean([(a > 0) == (b > 0) for a, b in zip(p.ravel(), t.ravel(), strict=True)])
    )


def _tar_brute(scores, same, far):
    best = 0.0
    neg = scores[~same]
    for th in np.concatenate([np.unique(scores), [np.inf]]):
        if (neg >= th).mean() <= far:
            best = max(best, (scores[same] >= th).mean())
    return best


@pytest.mark.parametrize("far", [1e-3, 1e-2, 0.1])
def test_tar_at_far_against_brute_force(rng, far):
    same = rng.random(3000) < 0.3
    scores = np.round(rng.normal(same * 1.5, 1.0), 2)  # ties on purpose
    assert M.tar_at_far(scores, same, far) == pytest.approx(_tar_brute(scores, same, far))


def test_verification_accuracy_separable_and_random(rng):
    same = rng.random(600) < 0.5
    assert M.verification_accuracy(same + rng.normal(0, 0.01, 600), same) == 1.0
    assert 0.4 < M.verification_accuracy(rng.normal(size=600), same) < 0.6


def test_classification_metrics(rng):
    logits = rng.normal(size=(100, 7))
    y = rng.integers(0, 7, 100)
    pred = logits.argmax(1)
    assert M.accuracy(logits, y) == pytest.approx((pred == y).mean())
    assert M.mean_per_class_accuracy(logits, y) == pytest.approx(
        np.mean([(pred[y == c] == c).mean() for c in np.unique(y)])
    )
    ml, mt = rng.normal(size=(50, 5)), rng.integers(0, 2, (50, 5))
    assert M.mean_accuracy(ml, mt) == pytest.approx(
        np.mean([((ml[:, j] > 0) == mt[:, j]).mean() for j in range(5)])
    )


def test_nme_cofw_29_points_by_hand():
    """A COFW row in its file layout (29 x, 29 y, 29 occlusion flags), written with MATLAB's 1-based
    columns: the eye corners HRNet normalises by are MATLAB points 9 and 10 (40 px apart), the pupils
    RCPR normalises by are points 17 and 18 (24 px apart)."""
    row = np.zeros(87)
    row[:29], row[29:58] = np.arange(29) * 2.0, 100.0 + np.arange(29)
    for point, (x, y) in {9: (30, 40), 10: (70, 40), 17: (38, 52), 18: (62, 52)}.items():
        row[point - 1], row[29 + point - 1] = x, y
    target = np.stack([row[:29], row[29:58]], axis=1)[None]  # the cofw loader's reading of the row
    shifted = target + np.array([3.0, 4.0])  # every point 5 px off
    one_off = target.copy()
    one_off[0, 20, 0] += 29.0  # one point 29 px off: 1 px per point on average
    assert M.nme(shifted, target, "inter_ocular") == pytest.approx(5 / 40)
    assert M.nme(shifted, target, "inter_pupil") == pytest.approx(5 / 24)
    assert M.nme(one_off, target, "inter_ocular") == pytest.approx(1 / 40)
    both = np.concatenate([shifted, one_off])
    assert M.nme(both, np.concatenate([target, target]), "inter_ocular") == pytest.approx((5 + 1) / 2 / 40)
