"""Folder harvesting: EXIF orientation applied, every broken file recorded with its reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from facerep.harvest.manifest import read_manifest
from facerep.params import load_params
from facerep.stages import run_stage


def gradient(w: int, h: int) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    return Image.fromarray(np.stack([x, np.zeros_like(x), 255 - x], -1))


def build_folder(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    gradient(60, 30).save(root / "plain.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    gradient(60, 30).save(root / "a" / "rotated.jpg", quality=95, exif=exif)
    gradient(20, 20).save(root / "a" / "b" / "pic.png")
    gradient(20, 20).save(root / "a" / "b" / "pic.webp")
    gradient(20, 20).save(root / "copy.png")  # same bytes as a/b/pic.png
    (root / "zero.jpg").write_bytes(b"")
    full = (root / "plain.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(full[: len(full) // 2])
    (root / "text.png").write_text("not a picture")
    gradient(10, 10).save(root / "anim.gif")
    gradient(400, 300).save(root / "huge.png")
    (root / "notes.txt").write_text("ignored")
    gradient(10, 10).save(root / ".hidden" / "secret.jpg")


def test_folder_statuses_orientation_and_rerun(tmp_path: Path) -> None:
    root, raw = tmp_path / "photos", tmp_path / "raw"
    build_folder(root)
    sets = [f"paths.raw={raw}", "tracking.enabled=false", "harvest.sources=[folder]"]
    sets += [f"harvest.folder.root={root}", "harvest.max_pixels=100000"]
    result = run_stage("harvest", load_params(None, sets))
    df = read_manifest(raw / "manifest.parquet").set_index("image_id")
    assert df["status"].to_dict() == {
        "folder:a/b/pic.png": "ok",
        "folder:a/b/pic.webp": "ok",
        "folder:a/rotated.jpg": "ok",
        "folder:anim.gif": "unsupported_format",
        "folder:copy.png": "duplicate",
        "folder:cut.jpg": "truncated",
        "folder:huge.png": "decompression_bomb",
        "folder:plain.jpg": "ok",
        "folder:text.png": "not_an_image",
        "folder:zero.jpg": "zero_bytes",
    }
    assert df.loc["folder:copy.png", "dup_of"] == "folder:a/b/pic.png"  # first by image_id wins
    rotated = df.loc["folder:a/rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (30, 60)
    with Image.open(raw / rotated["path"]) as img:
        arr = np.asarray(img.convert("RGB"), dtype=int)
    assert img.size == (30, 60)
    assert arr[2, 15, 0] < 60 and arr[-3, 15, 0] > 190  # the left-to-right ramp now runs top to bottom
    plain = df.loc["folder:plain.jpg"]
    assert plain["sha256"] == hashlib.sha256((root / "plain.jpg").read_bytes()).hexdigest()
    assert plain["path"] == "folder/plain.jpg"
    assert result.metrics["ok"] == 4 and result.metrics["status.truncated"] == 1

    stamp = (raw / "folder" / "plain.jpg").stat().st_mtime_ns
    run_stage("harvest", load_params(None, sets))
    assert (raw / "folder" / "plain.jpg").stat().st_mtime_ns == stamp
    assert read_manifest(raw / "manifest.parquet").set_index("image_id").equals(df)
