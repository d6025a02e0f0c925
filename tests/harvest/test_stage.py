"""The harvest stage end to end: default SynthFaces source, real `facerep synth` output, CLI exit codes."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from harvest_media import write_synth_tree

from facerep.errors import InputError
from facerep.harvest.manifest import read_manifest
from facerep.params import load_params
from facerep.stages import run_stage


def test_default_synthetic_source(tmp_path: Path) -> None:
    synth, raw = tmp_path / "synth", tmp_path / "raw"
    write_synth_tree(synth, scenes=3, clips=(50, 13))
    params = load_params(None, [f"paths.synth={synth}", f"paths.raw={raw}", "tracking.enabled=false"])
    assert params.harvest.sources == ["synthetic"]
    result = run_stage("harvest", params)
    df = read_manifest(raw / "manifest.parquet")
    scenes = df[df["image_id"].str.match(r"synth:scene_\d{6}$")]
    frames = df[df["frame_time"].notna()]
    assert len(scenes) == 3 and len(frames) == 12 + 4  # 2 s and 0.52 s of video at 6 fps
    assert (df["status"] == "ok").all() and (df["source"] == "synthetic").all()
    assert set(df["license"]) == {"SynthFaces (generated, CC0 1.0)"}  # scenes and video frames alike
    assert set(frames["speaker_id"]) == {"id00000", "id00001"}
    assert all((raw / p).is_file() for p in df["path"])
    assert result.metrics["ok"] == len(df) and result.metrics["source.synthetic"] == len(df)


def cli(tmp_path: Path, *sets: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "facerep", "harvest", "--set", "tracking.enabled=false"]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_cli_exit_codes(tmp_path: Path) -> None:
    missing = cli(tmp_path, f"paths.synth={tmp_path / 'nothing'}", f"paths.raw={tmp_path / 'raw'}")
    assert missing.returncode == 2 and "facerep synth" in missing.stderr
    unknown = cli(tmp_path, "harvest.sources=[instagram]")
    assert unknown.returncode == 2 and "harvest.sources" in unknown.stderr
    with pytest.raises(InputError, match=r"harvest\.folder\.root"):
        run_stage("harvest", load_params(None, ["harvest.sources=[folder]", f"paths.raw={tmp_path / 'raw'}"]))


def test_real_synth_stage_output(tmp_path: Path) -> None:
    """`facerep synth` then `facerep harvest`: every scene, and ceil(duration x 6) frames per video."""
    from facerep.synth.layout import read_scenes, read_video_frames

    synth = tmp_path / "synth"
    sets = [f"paths.synth={synth}", f"paths.raw={tmp_path / 'raw'}", "tracking.enabled=false"]
    sets += ["synth.faces=4", "synth.scenes=2", "synth.videos=1", "synth.identities=4"]
    params = load_params(None, sets)
    run_stage("synth", params)
    run_stage("harvest", params)
    df = read_manifest(tmp_path / "raw" / "manifest.parquet")
    assert (df["status"] == "ok").all()
    scene_ids = {f"synth:{Path(f).stem}" for f in read_scenes(synth)["file"]}
    assert set(df.loc[df["frame_time"].isna(), "image_id"]) == scene_ids
    truth = read_video_frames(synth)
    for path, frames in truth.groupby("path"):
        clip = path.removesuffix(".mp4")
        got = df[df["image_id"].str.startswith(f"synth:{clip}@")]
        fps = 1 / frames["time"].sort_values().diff().median()
        assert len(got) == math.ceil(len(frames) / fps * 6 - 1e-9), path
