"""Acceptance on SynthFaces scenes: `facerep detect` over a harvest of scenes finds at least 90% of
the faces of 40 px and more at IoU 0.5 with few false positives, and writes crops in which the
ground-truth face spans about 190 of 256 px. One synth run and one detect run serve both tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from facerep.faces.crop import crop_window, face_size, transform_box
from facerep.faces.evaluate import gt_face_size, match
from facerep.params import load_params
from facerep.stages import run_stage

from .conftest import write_manifest

N_SCENES = 24


@dataclass
class SceneRun:
    gt: dict[str, np.ndarray]
    faces: pd.DataFrame


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory) -> SceneRun:
    """Scenes rendered by the synth stage (contract layout), harvested into a manifest, detected."""
    pytest.importorskip("facerep.synth.stage")
    from facerep.synth.layout import read_scenes

    tmp = tmp_path_factory.mktemp("scenes")
    synth = [f"paths.synth={tmp / 'synth'}", "synth.faces=0", "synth.videos=0", f"synth.scenes={N_SCENES}"]
    run_stage("synth", load_params(None, [*synth, "tracking.enabled=false"]))
    scenes = read_scenes(tmp / "synth")
    images = tmp / "synth" / "scenes" / "images"
    ids, files = list(scenes["scene_id"]), list(scenes["file"])
    write_manifest(tmp / "raw", [(sid, str(images / f), "ok") for sid, f in zip(ids, files, strict=True)])
    sets = [f"paths.raw={tmp / 'raw'}", f"paths.faces={tmp / 'faces'}", "tracking.enabled=false"]
    run_stage("detect", load_params(None, sets))
    gt = {
        sid: np.array([list(b) for b in boxes], float).reshape(-1, 4)
        for sid, boxes in zip(ids, scenes["boxes"], strict=True)
    }
    return SceneRun(gt, pd.read_parquet(tmp / "faces" / "faces.parquet"))


def _detections(run: SceneRun, scene_id: str) -> tuple[np.ndarray, np.ndarray]:
    rows = run.faces[run.faces["image_id"] == scene_id]
    return np.array([list(b) for b in rows["bbox"]], float).reshape(-1, 4), rows["score"].to_numpy(float)


def test_recall_of_faces_of_40_px_and_more(scene_run):
    found = n_big = false_pos = 0
    for scene_id, gt in scene_run.gt.items():
        boxes, scores = _detections(scene_run, scene_id)
        m = match(gt, boxes, scores, iou=0.5)
        big = gt_face_size(gt) >= 40
        found += int(m.gt_matched[big].sum())
        n_big += int(big.sum())
        false_pos += int((~m.det_true).sum())
    assert n_big >= 20, "too few faces of 40 px and more to measure recall"
    assert found / n_big >= 0.9
    assert false_pos <= 0.1 * len(scene_run.gt)


def test_crops_hold_the_true_face_at_190_of_256(scene_run):
    spans, offsets = [], []
    for row in scene_run.faces.itertuples():
        gt = scene_run.gt[row.image_id]
        m = match(gt, np.asarray(row.bbox)[None], np.ones(1))
        if not m.det_true[0]:
            continue
        true_box = gt[np.where(m.gt_matched)[0][0]]
        in_crop = transform_box(true_box, crop_window(np.asarray(row.bbox)).matrix)
        spans.append(face_size(in_crop))
        offsets.append(np.abs((in_crop[:2] + in_crop[2:]) / 2 - 128).max())
    assert len(spans) >= 20
    assert np.median(spans) == pytest.approx(190, rel=0.1)
    assert np.percentile(spans, 10) > 140 and np.percentile(spans, 90) < 240
    assert np.median(offsets) < 16
