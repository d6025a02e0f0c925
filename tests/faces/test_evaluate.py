"""Recall matching: one detection per face, greedy by score, duplicates are false positives."""

import numpy as np

from facerep.faces.evaluate import gt_face_size, match, recall_table


def test_greedy_one_to_one_matching():
    gt = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [100, 100, 140, 150]], float)
    det = np.array([[0, 0, 10, 11], [1, 0, 10, 10], [21, 20, 40, 41], [60, 60, 70, 70]], float)
    m = match(gt, det, np.array([0.9, 0.95, 0.8, 0.99]))
    assert m.gt_matched.tolist() == [True, True, False]
    assert m.det_true.tolist() == [False, True, True, False]


def test_no_detections_or_no_faces():
    assert match(np.zeros((0, 4)), np.array([[0, 0, 5, 5]]), np.array([1.0])).det_true.tolist() == [False]
    assert match(np.array([[0, 0, 5, 5]]), np.zeros((0, 4)), np.zeros(0)).gt_matched.tolist() == [False]


def test_recall_by_size_bin():
    gt = np.array([[0, 0, 30, 20], [0, 0, 50, 50], [0, 0, 45, 60], [0, 0, 200, 100]], float)
    sizes = gt_face_size(gt)
    assert sizes.tolist() == [30, 50, 60, 200]
    table = recall_table(sizes, np.array([False, True, False, True]), bins=(0, 40, 100, np.inf))
    assert [(r["faces"], r["recall"]) for r in table] == [(1, 0.0), (2, 0.5), (1, 1.0)]
