"""Resumability: a killed `facerep detect` resumes to the same result, and a crash between the two
part files of a chunk never leaves a row without its crop nor counts an image twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facerep.faces.store import FaceStore
from facerep.params import load_params
from facerep.stages import run_stage

from .conftest import read_rgb, write_manifest

N_IMAGES = 12


@pytest.fixture
def many_raw(tmp_path, group_photo_path, astronaut) -> Path:
    """A dozen photos: windows of the group photo and rescaled astronauts."""
    raw = tmp_path / "raw"
    (raw / "img").mkdir(parents=True)
    group = read_rgb(group_photo_path)
    items = []
    for i in range(N_IMAGES):
        if i % 2:
            x = 60 * i
            img = group[:, x : x + 500]
        else:
            img = np.asarray(Image.fromarray(astronaut).resize((300 + 20 * i, 300 + 20 * i)))
        Image.fromarray(img).save(raw / "img" / f"{i:02d}.jpg", quality=92)
        items.append((f"img{i:02d}", f"img/{i:02d}.jpg", "ok"))
    write_manifest(raw, items)
    return raw


def _sets(raw: Path, faces: Path) -> list[str]:
    return [
        f"paths.raw={raw}",
        f"paths.faces={faces}",
        "tracking.enabled=false",
        "detect.chunk_size=1",
        "detect.batch_size=1",
        "detect.workers=1",
    ]


def assert_every_row_has_its_crop(faces_dir: Path) -> pd.DataFrame:
    faces = pd.read_parquet(faces_dir / "faces.parquet")
    assert all((faces_dir / p).is_file() for p in faces["crop_path"])
    return faces


def test_killed_run_resumes_to_the_same_result(many_raw, tmp_path):
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "facerep", "detect"]
    for s in _sets(many_raw, killed):
        args += ["--set", s]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    marker = killed / "parts" / "images-000002.parquet"
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists(), "the run ended before it could be interrupted"
    done = len(FaceStore(killed).done_ids())
    assert 3 <= done < N_IMAGES

    resumed = run_stage("detect", load_params(None, _sets(many_raw, killed)))
    assert resumed.metrics["images_processed"] == N_IMAGES - done
    clean = tmp_path / "clean"
    run_stage("detect", load_params(None, _sets(many_raw, clean)))
    a, b = assert_every_row_has_its_crop(killed), assert_every_row_has_its_crop(clean)
    pd.testing.assert_frame_equal(a, b)
    images = pd.read_parquet(killed / "images.parquet")
    assert images["image_id"].is_unique and len(images) == N_IMAGES


def test_crash_between_faces_part_and_commit_marker_is_undone(many_raw, tmp_path):
    """Simulate the crash window exactly: a faces part whose images part was never written."""
    faces_dir = tmp_path / "faces"
    run_stage("detect", load_params(None, _sets(many_raw, faces_dir)))
    store = FaceStore(faces_dir)
    parts = sorted(store.parts.glob("images-*.parquet"))
    parts[-1].unlink()
    lost = pd.read_parquet(sorted(store.parts.glob("faces-*.parquet"))[-1])
    assert len(lost) > 0

    again = run_stage("detect", load_params(None, _sets(many_raw, faces_dir)))
    assert again.metrics["images_processed"] == 1
    faces = assert_every_row_has_its_crop(faces_dir)
    assert faces["face_id"].is_unique
    assert set(lost["face_id"]) <= set(faces["face_id"])
