"""SynthFaces through the real code paths: scenes like folder images, videos like VoxCeleb clips.

This is the default, offline harvest: `facerep synth` writes `<paths.synth>/scenes/images/*.jpg` and a
VoxCeleb2-layout tree `<paths.synth>/videos/idNNNNN/<video_id>/NNNNN.mp4` (docs/synth.md), and the
harvest stage reads them exactly as it reads a user's folder and VoxCeleb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facerep.errors import InputError
from facerep.harvest.config import HarvestParams
from facerep.harvest.folder import harvest_folder
from facerep.harvest.manifest import Journal
from facerep.harvest.voxceleb import harvest_clips
from facerep.synth.layout import SCENE_IMAGES, VIDEOS_DIR

LICENSE = "SynthFaces (generated, CC0 1.0)"


def harvest_synthetic(synth: Path, raw: Path, journal: Journal, cfg: HarvestParams) -> list[dict[str, Any]]:
    """Rows for every SynthFaces scene (`synth:scene_000012`) and video frame (`synth:idNNNNN/...@t`)."""
    scenes, videos = synth / SCENE_IMAGES, synth / VIDEOS_DIR
    if not scenes.is_dir() and not videos.is_dir():
        raise InputError(f"{synth}: no SynthFaces output (paths.synth); run `facerep synth` first")
    rows: list[dict[str, Any]] = []
    if scenes.is_dir():
        rows += harvest_folder(
            scenes,
            raw,
            journal,
            source="synthetic",
            id_prefix="synth:",
            out_prefix="synthetic/scenes",
            max_pixels=cfg.max_pixels,
            strip_suffix=True,
            license=LICENSE,
        )
    if videos.is_dir():
        rows += harvest_clips(
            videos,
            raw,
            journal,
            cfg.voxceleb,
            source="synthetic",
            id_prefix="synth:",
            out_prefix="synthetic/videos",
            license=LICENSE,
        )
    return rows
