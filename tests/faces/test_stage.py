"""`facerep detect` end to end on real photos: outputs, crop geometry, reasons, idempotence, plots."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from facerep.errors import InputError, MissingModelError
from facerep.faces.crop import crop_window, transform_box
from facerep.params import load_params
from facerep.stages import run_stage


def detect_params(raw: Path, faces: Path, *extra: str):
    return load_params(None, [f"paths.raw={raw}", f"paths.faces={faces}", "tracking.enabled=false", *extra])


@pytest.fixture(scope="module")
def first_run(photo_raw, tmp_path_factory):
    """One tracked run (a real MLflow store in a temporary folder) shared by the read-only tests."""
    tmp = tmp_path_factory.mktemp("first_run")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    sets = [f"tracking.uri={uri}", "tracking.enabled=true", "tracking.experiment=detect-test"]
    result = run_stage("detect", detect_params(photo_raw, tmp / "faces", *sets, "detect.chunk_size=2"))
    return tmp / "faces", result, uri


def test_faces_parquet_rows_and_crops(first_run):
    faces_dir, result, _ = first_run
    faces = pd.read_parquet(faces_dir / "faces.parquet")
    assert {"face_id", "image_id", "bbox", "score", "landmarks5", "crop_path"} <= set(faces.columns)
    assert faces.groupby("image_id").size().to_dict() == {"astronaut": 1, "group": 6}
    assert faces["face_id"].is_unique
    assert (faces["license"] == "CC0-1.0").all() and (faces["owner"] == "tests").all()
    for row in faces.itertuples():
        crop = cv2.imread(str(faces_dir / row.crop_path))
        assert crop.shape == (256, 256, 3)
        lm = np.asarray(row.landmarks5).reshape(5, 2)
        assert ((lm > 0) & (lm < 256)).all()
        box_in_crop = transform_box(np.asarray(row.bbox), crop_window(np.asarray(row.bbox)).matrix)
        side = max(box_in_crop[2] - box_in_crop[0], box_in_crop[3] - box_in_crop[1])
        assert side == pytest.approx(190, abs=2)
    assert result.metrics["faces"] == 7 and result.metrics["images_failed"] == 2


def test_missing_manifest_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"manifest\.parquet"):
        run_stage("detect", detect_params(tmp_path / "raw", tmp_path / "faces"))


def test_unusable_images_get_a_reason_and_rejected_rows_are_skipped(first_run):
    faces_dir, _, _ = first_run
    images = pd.read_parquet(faces_dir / "images.parquet").set_index("image_id")
    assert set(images.index) == {"group", "astronaut", "corrupt", "gone"}
    assert images.loc["corrupt", "status"].startswith("undecodable image")
    assert images.loc["gone", "status"] == "missing file"
    assert images.loc["group", "status"] == "ok" and images.loc["group", "n_faces"] == 6
    assert (images.loc["group", "width"], images.loc["group", "height"]) == (1280, 886)


def test_rerun_skips_finished_images_and_keeps_outputs(first_run, photo_raw):
    faces_dir, _, _ = first_run
    before = pd.read_parquet(faces_dir / "faces.parquet")
    again = run_stage("detect", detect_params(photo_raw, faces_dir))
    assert again.metrics["images_processed"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(faces_dir / "faces.parquet"), before)


def test_face_ids_are_stable_across_runs(first_run, photo_raw, tmp_path):
    faces_dir, _, _ = first_run
    other = tmp_path / "faces_again"
    run_stage("detect", detect_params(photo_raw, other, "detect.batch_size=1", "detect.workers=1"))
    a = pd.read_parquet(faces_dir / "faces.parquet")
    b = pd.read_parquet(other / "faces.parquet")
    assert list(a["face_id"]) == list(b["face_id"])


def test_plots_are_written_and_logged_to_mlflow(first_run):
    mlflow = pytest.importorskip("mlflow")
    _, result, uri = first_run
    names = {p.name for p in result.artifacts}
    assert {"face_sizes.png", "scores.png", "faces_per_image.png", "summary.json"} <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in result.artifacts)
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("detect-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.metrics["faces"] == 7
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "face_sizes.png" in logged
    progress = client.get_metric_history(run.info.run_id, "images_done")
    assert progress and max(m.value for m in progress) <= 4


def test_changed_parameters_start_over_instead_of_mixing(first_run, photo_raw, tmp_path):
    faces_dir = tmp_path / "faces"
    shutil.copytree(first_run[0], faces_dir)
    old_crops = set(pd.read_parquet(faces_dir / "faces.parquet")["crop_path"])
    changed = run_stage("detect", detect_params(photo_raw, faces_dir, "detect.crop.face_px=128"))
    assert changed.metrics["images_processed"] == 4
    faces = pd.read_parquet(faces_dir / "faces.parquet")
    assert len(faces) == 7
    assert not any((faces_dir / p).exists() for p in old_crops - set(faces["crop_path"]))
    for row in faces.itertuples():
        box = transform_box(np.asarray(row.bbox), crop_window(np.asarray(row.bbox), 256, 128).matrix)
        assert max(box[2] - box[0], box[3] - box[1]) == pytest.approx(128, abs=2)


def test_missing_weights_stop_before_earlier_work_is_discarded(first_run, photo_raw, tmp_path):
    faces_dir = tmp_path / "faces"
    shutil.copytree(first_run[0], faces_dir)
    crops = sorted(faces_dir.glob("crops/*/*.jpg"))
    switch = ["detect.backend=retinaface", f"detect.retinaface.weights={tmp_path / 'absent.zip'}"]
    with pytest.raises(MissingModelError):
        run_stage("detect", detect_params(photo_raw, faces_dir, *switch))
    assert sorted(faces_dir.glob("crops/*/*.jpg")) == crops


def test_outputs_follow_the_current_manifest(first_run, photo_raw, tmp_path):
    faces_dir, raw = tmp_path / "faces", tmp_path / "raw"
    shutil.copytree(first_run[0], faces_dir)
    shutil.copytree(photo_raw, raw)
    manifest = pd.read_parquet(raw / "manifest.parquet")
    manifest[manifest["image_id"] != "group"].to_parquet(raw / "manifest.parquet", index=False)
    again = run_stage("detect", detect_params(raw, faces_dir))
    assert again.metrics["images_processed"] == 0
    assert set(pd.read_parquet(faces_dir / "faces.parquet")["image_id"]) == {"astronaut"}
    assert "group" not in set(pd.read_parquet(faces_dir / "images.parquet")["image_id"])
