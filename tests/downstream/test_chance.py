"""The chance floor: each task's best constant, fitted on training labels alone and scored with the
task's own metrics, checked against hand computations. No image is read (the splits hold none)."""

from __future__ import annotations

import numpy as np
import pytest

from facerep.downstream.chance import chance_metrics, column_majority, column_median, majority_class
from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks import make_task


def _split(**labels: np.ndarray) -> Split:
    n = len(next(iter(labels.values())))
    return Split(None, dict(labels), [str(i) for i in range(n)])  # type: ignore[arg-type]


def _score(task: str, train: Split, test: Split, **meta: object) -> dict[str, float]:
    return chance_metrics(make_task(task), train, test, TaskData("hand", train, test, None, dict(meta)))


def test_constants():
    assert majority_class(np.array([2, 0, 2, 1, 0])) == 0  # a tie goes to the smaller class
    np.testing.assert_array_equal(column_majority(np.array([[1, 0], [1, 1], [0, 0]])), [1, 0])
    np.testing.assert_array_equal(column_median(np.array([[0.0], [10.0], [1.0]])), [1.0])


def test_expression_predicts_the_training_majority():
    train, test = _split(expression=np.array([0, 1, 1, 2])), _split(expression=np.array([1, 1, 0, 2, 2]))
    out = _score("expression", train, test, classes=3)
    assert out["accuracy"] == pytest.approx(2 / 5)
    assert out["mean_class_accuracy"] == pytest.approx((0 + 1 + 0) / 3)  # recall of classes 0, 1, 2


def test_attributes_predict_each_attributes_majority():
    train = _split(attributes=np.array([[1, 0], [1, 1], [0, 0]], dtype=np.float32))
    test = _split(attributes=np.array([[1, 0], [0, 0]], dtype=np.float32))
    out = _score("attributes", train, test, attribute_names=["smile", "hat"])
    assert out["acc_smile"] == 0.5 and out["acc_hat"] == 1.0 and out["mean_accuracy"] == 0.75


def test_action_units_predict_the_mean_which_has_icc_zero():
    train = _split(au=np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32))  # mean (1, 2)
    test = _split(au=np.array([[0.0, 2.0], [4.0, 2.0], [1.0, 5.0]], dtype=np.float32))
    out = _score("au", train, test)
    assert out["icc"] == pytest.approx(0.0, abs=1e-12)  # a constant rater shares no variance with the truth
    assert out["mae"] == pytest.approx(np.mean([1, 0, 3, 0, 0, 3]))


def test_pose_predicts_the_median_angles():
    train = _split(pose=np.array([[0.0, 0, 0], [10, 2, 0], [90, 4, 0]], dtype=np.float32))  # median 10, 2, 0
    test = _split(pose=np.array([[20.0, 2, 1], [10, 0, -3]], dtype=np.float32))
    out = _score("pose", train, test)
    assert (out["mae_yaw"], out["mae_pitch"], out["mae_roll"]) == pytest.approx((5.0, 1.0, 2.0))
    assert out["mae"] == pytest.approx(8 / 3)


def test_landmarks_predict_the_mean_shape():
    # five points; inter-ocular distance = |point 0 - point 1| = 4 in every test face
    shape = np.array([[0, 0], [4, 0], [2, 2], [1, 4], [3, 4]], dtype=np.float32)
    train = _split(landmarks=np.stack([shape, shape + np.array([0, 2])]))  # mean shape = shape + (0, 1)
    test = _split(landmarks=np.stack([shape, shape + np.array([3, 1])]))
    out = _score("landmarks", train, test, nme_norm="inter_ocular")
    assert out["nme"] == pytest.approx((1 / 4 + 3 / 4) / 2)  # off by 1 px, then by 3 px
    assert out["fr10"] == 1.0


def test_valence_arousal_predicts_the_mean_and_the_majority_expression():
    train = _split(
        valence_arousal=np.array([[0.5, -0.2], [0.1, 0.4]], dtype=np.float32), expression=np.array([3, 3])
    )
    test = _split(
        valence_arousal=np.array([[0.6, 0.0], [-0.4, 0.3]], dtype=np.float32), expression=np.array([3, 1])
    )
    out = _score("valence_arousal", train, test, classes=7)
    assert out["ccc"] == 0.0 and out["accuracy"] == 0.5
    assert out["valence_rmse"] == pytest.approx(np.sqrt((0.3**2 + 0.7**2) / 2))
    assert out["arousal_sagr"] == 0.5  # predicts +0.1: agrees with 0.3, not with 0.0


def test_verification_of_a_constant_score_is_at_chance():
    ids = np.repeat(np.arange(10), 3)
    out = _score("recognition", _split(identity=ids), _split(identity=ids))
    assert out["accuracy"] == pytest.approx(0.5) and out["tar_far_1e-3"] == 0.0
