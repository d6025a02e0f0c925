"""The synth stage end to end: layout, Parquet columns, video decoding, determinism, resumption, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from facerep.cli import app
from facerep.params import load_params
from facerep.stages import run_stage
from facerep.synth import layout

SETS = [
    "synth.faces=10",
    "synth.scenes=3",
    "synth.videos=2",
    "synth.video_seconds=0.4",
    "synth.video_fps=10",
    "synth.video_size=96",
    "synth.identities=50",
    "synth.scene_size=[200,320]",
    "synth.scene_face_px=[40,160]",
    "synth.chunk=4",
    "synth.sizes=[64,112]",
    "tracking.enabled=false",
]


def _params(root: Path, *extra: str):
    return load_params(None, [*SETS, f"paths.synth={root}", *extra])


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "a"
    result = run_stage("synth", _params(root, "synth.workers=2"))
    assert result.metrics["faces"] == 10 and result.metrics["video_frames"] == 8
    return root


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_face_layout_and_columns(synth_root: Path) -> None:
    df = layout.read_face_labels(synth_root)
    assert list(df.columns) == list(layout.FACE_COLUMNS)
    assert len(df) == 10 and df.face_id.is_unique
    assert set(df.split) <= {"train", "test"}
    assert df.identity.between(0, 49).all() and df.expression.between(0, 6).all()
    assert (
        df.yaw.between(-70, 70).all() and df.pitch.between(-30, 30).all() and df.roll.between(-25, 25).all()
    )
    assert df[list(layout.AUS)].stack().between(0, 5).all()
    assert df[["valence", "arousal"]].stack().between(-1, 1).all()
    assert set(np.unique(df.filter(like="attr_").to_numpy())) <= {0, 1}
    for _, row in df.iterrows():
        lm = np.asarray(row.lm68).reshape(68, 2)
        assert len(row.lm5) == 10 and len(row.face_box) == 4
        x1, y1, x2, y2 = row.face_box
        side = max(x2 - x1, y2 - y1)
        assert 0.68 < side < 0.8  # the detect-stage crop: about 190/256 of the frame
        assert lm[30].min() > 0 and lm[30].max() < 1
        for size in (64, 112):
            img = cv2.imread(str(layout.face_image_path(synth_root, size, row.file)))
            assert img.shape == (size, size, 3)


def test_scene_layout(synth_root: Path) -> None:
    df = layout.read_scenes(synth_root)
    assert len(df) == 3
    for _, row in df.iterrows():
        img = cv2.imread(str(synth_root / layout.SCENE_IMAGES / row.file))
        assert img.shape[:2] == (row.height, row.width) and 200 <= max(img.shape[:2]) <= 320
        assert len(row.boxes) == len(row.landmarks5) == len(row.identities) <= 6
        for box, lm5 in zip(row.boxes, row.landmarks5, strict=True):
            x1, y1, x2, y2 = box
            assert 0 <= x1 < x2 <= row.width and 0 <= y1 < y2 <= row.height
            pts = np.asarray(lm5).reshape(5, 2)
            margin = 0.3 * (x2 - x1)  # a profile's nose tip can pass the cheek line
            assert ((pts[:, 0] > x1 - margin) & (pts[:, 0] < x2 + margin)).all()
            assert ((pts[:, 1] > y1) & (pts[:, 1] < y2)).all()


def test_video_frames_decode_and_match_ground_truth(synth_root: Path) -> None:
    df = layout.read_video_frames(synth_root)
    assert len(df) == 2 * 4
    for path, frames in df.groupby("path"):
        speaker, video_id, clip = path.split("/")
        assert speaker.startswith("id") and len(speaker) == 7 and clip == "00001.mp4" and len(video_id) == 11
        with av.open(str(synth_root / layout.VIDEOS_DIR / path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(decoded) == len(frames) and decoded[0].shape == (96, 96, 3)
        assert frames.frame_index.tolist() == list(range(len(frames)))
        np.testing.assert_allclose(frames.time, np.arange(len(frames)) / 10)
        assert frames.speaker_id.nunique() == 1 and frames.identity.nunique() == 1


def test_same_seed_gives_identical_bytes_with_any_worker_count(synth_root: Path, tmp_path: Path) -> None:
    other = tmp_path / "b"
    run_stage("synth", _params(other, "synth.workers=1"))
    assert _digests(other) == _digests(synth_root)


def test_rerun_skips_complete_products(synth_root: Path) -> None:
    before = _digests(synth_root)
    result = run_stage("synth", _params(synth_root))
    assert result.metrics["skipped_products"] == 3
    assert _digests(synth_root) == before


def test_interrupted_run_resumes_from_parts(tmp_path: Path) -> None:
    root = tmp_path / "c"
    params = _params(root, "synth.workers=1", "synth.scenes=0", "synth.videos=0")
    run_stage("synth", params)
    labels = root / layout.FACE_LABELS
    first = labels.read_bytes()
    labels.unlink()  # as if killed before the table was written: the manifest no longer counts
    (root / "faces" / "64" / "f000009.png").unlink()
    run_stage("synth", params)
    assert labels.read_bytes() == first
    assert (root / "faces" / "64" / "f000009.png").exists()


@pytest.mark.parametrize(
    "override",
    [
        "synth.faces=-1",
        "synth.scenes=-3",
        "synth.videos=-1",
        "synth.sizes=[0]",
        "synth.video_size=0",
        "synth.video_fps=0",
    ],
)
def test_bad_parameters_exit_2(override: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--set", override, "--set", f"paths.synth={tmp_path}"])
    assert result.exit_code == 2, result.output
    assert override.split("=")[0] in result.output


def test_preview_cli_writes_a_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["synth", "preview", "--count", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(out))
    assert sheet.shape[1] == 3 * 224 and sheet.shape[0] > 224
    assert sheet[:224].std() > 20  # faces, not a blank page
