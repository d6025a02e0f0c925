"""ProS face-aware retrieval on real photos: a crop of the face stays, a crop of background goes."""

from __future__ import annotations

import numpy as np
import pytest

from facerep.curate.embedders import DlibDescriptor
from facerep.curate.retrieval import accepted, accepted_boxes, paste_in_place, sample_boxes
from facerep.curate.scoring import global_features, local_similarities
from facerep.params import load_params

FACE_BOX = [64.0, 64.0, 192.0, 192.0]  # the middle quarter of the crop: eyes, nose, mouth
BACKGROUND_BOX = [0.0, 0.0, 60.0, 60.0]  # the top-left corner: hair, wall or sky


def test_sampled_boxes_follow_the_multicrop_rule():
    rng = np.random.default_rng(3)
    boxes = sample_boxes(rng, 256, 200, 400, (0.05, 0.4), (0.75, 4 / 3))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 256).all() and (boxes[:, 3] <= 200).all()
    area = w * h / (256 * 200)
    assert area.min() >= 0.045 and area.max() <= 0.41
    assert (w / h).min() >= 0.7 and (w / h).max() <= 1.4
    again = sample_boxes(np.random.default_rng(3), 256, 200, 400, (0.05, 0.4), (0.75, 4 / 3))
    np.testing.assert_array_equal(boxes, again)


def test_acceptance_is_theta_inclusive():
    sims = np.array([-0.6, -0.5, 0.2])
    assert accepted(sims, -0.5).tolist() == [False, True, True]
    rows = accepted_boxes(np.array([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]]), sims, -0.5)
    assert rows == [[1.0, 1.0, 2.0, 2.0, -0.5], [2.0, 2.0, 3.0, 3.0, 0.2]]


def test_paste_in_place_keeps_only_the_box():
    img = np.full((8, 8, 3), 200, np.uint8)
    out = paste_in_place(img, [2, 2, 4, 4])
    assert (out[2:4, 2:4] == 200).all() and out.sum() == 200 * 12 + 127 * (64 - 4) * 3


@pytest.mark.parametrize("mode", ["in_place"])
def test_face_crop_kept_background_crop_rejected_on_real_photos(faces, mode):
    embedder = DlibDescriptor()
    theta = load_params(None, ["curate.embedder=dlib"]).curate.local_theta()
    feats = global_features(embedder, [f.crop for f in faces], [f.landmarks5 for f in faces])
    boxes = [np.array([FACE_BOX, BACKGROUND_BOX])] * len(faces)
    sims = local_similarities(
        embedder, feats, [f.crop for f in faces], [f.landmarks5 for f in faces], boxes, mode
    )
    for face, (face_sim, background_sim) in zip(faces, sims, strict=True):
        assert face_sim >= theta, f"{face.name}: face crop rejected ({face_sim:.2f} < {theta})"
        assert background_sim < theta, f"{face.name}: background crop kept ({background_sim:.2f})"
