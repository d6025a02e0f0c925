"""Priors, decoding, NMS, face selection and letterboxing: the pieces both RetinaFace backends share."""

import numpy as np
import torch

from facerep.faces.batching import Normalisation, grouped_batches, letterbox_pixels, normalise, resize_longest
from facerep.faces.postprocess import Selection, box_iou, nms, select_faces
from facerep.faces.priors import decode_boxes, decode_landmarks, prior_boxes


def test_prior_count_and_order():
    priors = prior_boxes(64, 96)
    # stride 8: 8x12 cells, stride 16: 4x6, stride 32: 2x3; two sizes per cell
    assert len(priors) == 2 * (8 * 12 + 4 * 6 + 2 * 3)
    np.testing.assert_allclose(priors[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    assert not priors.flags.writeable


def test_zero_regression_decodes_to_the_prior():
    priors = prior_boxes(32, 32)
    boxes = decode_boxes(np.zeros((len(priors), 4), np.float32), priors)
    np.testing.assert_allclose(boxes[0], [4 - 8, 4 - 8, 4 + 8, 4 + 8])
    points = decode_landmarks(np.zeros((len(priors), 10), np.float32), priors)
    assert points.shape == (len(priors), 5, 2)
    np.testing.assert_allclose(points[0], np.tile([4, 4], (5, 1)))


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 9]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes[:1])[0, 0] == 1.0


def test_selection_thresholds_sizes_and_counts():
    boxes = np.array([[0, 0, 50, 50], [100, 0, 110, 10], [200, 0, 260, 60], [300, 0, 340, 40]], float)
    scores = np.array([0.95, 0.99, 0.5, 0.9])
    lm = np.zeros((4, 5, 2))
    det = select_faces(boxes, scores, lm, Selection(threshold=0.8, min_face_px=20, max_faces=1))
    assert len(det) == 1 and det.scores[0] == np.float32(0.95)


def test_letterbox_pads_with_zero_and_scales_back():
    norm = Normalisation(mean=(10.0, 20.0, 30.0))
    a = resize_longest(np.full((100, 50, 3), (10, 20, 30), np.uint8), 64)
    b = resize_longest(np.full((40, 80, 3), 255, np.uint8), 64)
    assert (a.image.shape[:2], a.scale) == ((64, 32), 0.64)
    assert b.image.shape[:2] == (32, 64) and b.source_hw == (40, 80)
    batch = normalise(letterbox_pixels([a, b], norm.bgr), norm)
    assert batch.shape == (2, 3, 64, 64)
    assert not batch[0].any()
    assert (batch[1, :, :32, :64] > 0).all() and not batch[1, :, 32:].any()


def test_grouped_batches_emit_every_item_once_within_the_waiting_limit():
    items = [(i, "abc"[i % 3] if i < 20 else "d") for i in range(30)]
    full = {}
    for limit in (12, 5):
        out = list(grouped_batches(items, 4, key=lambda t: t[1], max_waiting=limit))
        assert sorted(i for b in out for i, _ in b) == list(range(30))
        assert all(len({k for _, k in b}) == 1 and len(b) <= 4 for b in out)
        full[limit] = sum(len(b) == 4 for b in out)
    assert full[12] == 5  # a, b, c once each (items 0-11), d twice; the rest waits to the end
    assert full[5] < full[12]  # a tight limit flushes partial groups early


def test_torch_backend_normalises_the_uint8_canvas_on_its_device_as_the_cpu_path_does():
    """detect uploads uint8 canvases; the torch backend's device normalisation (padding zeroed) equals
    the numpy normalisation the ONNX backends feed, and its input is channels-last."""
    from facerep.faces.retinaface_resnet import RetinaFaceNet, RetinaFaceResNet50

    rng = np.random.default_rng(0)
    a = resize_longest(rng.integers(0, 256, (90, 50, 3), dtype=np.uint8), 64)
    b = resize_longest(rng.integers(0, 256, (30, 80, 3), dtype=np.uint8), 64)
    backend = RetinaFaceResNet50(RetinaFaceNet(), Selection(threshold=0.5), input_size=64, device="cpu")
    canvas = letterbox_pixels([a, b], backend.normalisation.bgr)
    assert canvas.pixels.dtype == np.uint8 and canvas.sizes == ((64, 36), (24, 64))
    on_device = backend.device_input(canvas)
    assert on_device.is_contiguous(memory_format=torch.channels_last)
    expected = normalise(canvas, backend.normalisation)
    np.testing.assert_allclose(on_device.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert not expected[1, :, 24:].any() and not expected[0, :, :, 36:].any()
