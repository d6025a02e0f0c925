"""IJB template verification in tasks.Recognition: pooling checked against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks.recognition import Recognition, template_embeddings


def test_template_embedding_is_the_renormalised_mean_of_unit_face_embeddings():
    emb = np.array([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, -1.0]])
    ids, pooled = template_embeddings(emb, np.array([7, 7, 9, 12]))
    assert ids.tolist() == [7, 9, 12]
    # template 7: mean of (0.6, 0.8) and (0, 1) = (0.3, 0.9), divided by its norm sqrt(0.9)
    np.testing.assert_allclose(pooled[0], np.array([0.3, 0.9]) / np.sqrt(0.9))
    np.testing.assert_allclose(pooled[1:], [[1.0, 0.0], [0.0, -1.0]])


def _data(pairs: np.ndarray, meta: dict[str, object]) -> TaskData:
    empty = Split(torch.zeros((0, 3, 1, 1), dtype=torch.uint8), {"identity": np.zeros(0)}, [])
    test = Split(torch.zeros((4, 3, 1, 1), dtype=torch.uint8), {}, ["a", "b", "c", "d"])
    return TaskData("ijb", empty, test, pairs, meta)


def test_recognition_scores_template_pairs():
    # template 7 = a long face embedding along x and a short one along y: pooled at 45 degrees only if
    # each face is normalised first (the plain mean would point at about 6 degrees)
    emb = torch.tensor([[10.0, 0.0], [0.0, 1.0], [1.0, 0.2], [0.3, 1.0]])
    pairs = np.tile([[7, 9, 1], [7, 12, 0]], (10, 1))  # ten folds of one positive and one negative
    data = _data(pairs, {"templates": np.array([7, 7, 9, 12])})
    out = Recognition().evaluate(emb, data.test, data)
    # hand computation: cos(45 - 11.3 deg) = 0.832 for the positive < cos(73.3 - 45 deg) = 0.880
    assert out["tar_far_1e-3"] == 0.0 and out["accuracy"] == 0.5
    flipped = pairs.copy()
    flipped[:, 2] = 1 - flipped[:, 2]  # now the closer template pair is the genuine one
    data = _data(flipped, data.meta)
    assert Recognition().evaluate(emb, data.test, data)["tar_far_1e-3"] == 1.0


def test_pairs_without_templates_still_compare_test_faces():
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]), dim=1)
    pairs = np.tile([[0, 1, 1], [0, 2, 0]], (10, 1))
    data = _data(pairs, {})
    out = Recognition().evaluate(emb, data.test, data)
    assert out["tar_far_1e-3"] == 1.0 and out["accuracy"] == 1.0


def test_recognition_verifies_unseen_identities_and_reports_closed_set_apart():
    # open set: three people, four faces each, each person along their own axis (perfectly separable);
    # closed set: people of 4, 3 and 2 faces that all embed alike: 10 positive pairs, and 10
    # negatives in the balanced set, two pairs per fold, every score tied (chance)
    axes = np.eye(3)[np.repeat([0, 1, 2], 4)]
    closed = np.tile([[0.6, 0.8, 0.0]], (9, 1))
    emb = torch.tensor(np.concatenate([axes, closed]), dtype=torch.float32)
    labels = {
        "identity": np.concatenate([np.repeat([0, 1, 2], 4), np.repeat([5, 6, 7], [4, 3, 2])]),
        "open_set": np.array([True] * 12 + [False] * 9),
    }
    test = Split(torch.zeros((21, 3, 1, 1), dtype=torch.uint8), labels, [str(i) for i in range(21)])
    out = Recognition().evaluate(emb, test, TaskData("synthfaces", test, test, None, {}))
    assert out["accuracy"] == 1.0 and out["tar_far_1e-3"] == 1.0
    assert out["closed_set_accuracy"] == pytest.approx(0.5)
