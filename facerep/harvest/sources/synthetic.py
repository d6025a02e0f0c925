"""SynthFaces through the real code paths: scenes like folder images, videos like VoxCeleb clips.

This is the default, offline harvest: `facerep synth` writes `<paths.synth>/scenes/images/*.jpg` and a
VoxCeleb2-layout tree `<paths.synth>/videos/idNNNNN/<video_id>/NNNNN.mp4` (docs/synth.md), and the
harvest stage reads them exactly as it reads a user's folder and VoxCeleb clips, with
`harvest.voxceleb`'s sampling (fps, crop, size); it has no section of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facerep.errors import InputError
from facerep.harvest.manifest import Naming
from facerep.harvest.runner import Outcome
from facerep.harvest.source import Source, register
from facerep.harvest.sources.folder import ImageTree, harvest_image, iter_images
from facerep.harvest.sources.voxceleb import VoxCelebParams
from facerep.harvest.voxceleb import Clip, clip_frames, list_clips
from facerep.synth.layout import SCENE_IMAGES, VIDEOS_DIR

LICENSE = "SynthFaces (generated, CC0 1.0)"
SCENES = Naming("synthetic", "synth:", "synthetic/scenes", LICENSE)
VIDEOS = Naming("synthetic", "synth:", "synthetic/videos", LICENSE)


@register("synthetic")
class SyntheticSource(Source[str | Clip]):
    """Every SynthFaces scene (keyed by its file name, id `synth:scene_000012`) and video clip (keyed
    `idNNNNN/<video>/<clip>`, frames `synth:idNNNNN/...@t`)."""

    unit = "scenes and clips"

    @property
    def synth(self) -> Path:
        return Path(self.params.paths.synth)

    @property
    def sampling(self) -> VoxCelebParams:
        return self.params.harvest.voxceleb

    def settings(self) -> dict[str, Any]:
        """SynthFaces rows carry their own licence: VoxCeleb's is no setting of theirs."""
        vox = self.sampling.model_dump(mode="json", exclude={"download", "license"})
        return {"max_pixels": self.shared.max_pixels, "synth": self.params.paths.synth, "voxceleb": vox}

    def items(self) -> list[tuple[str, str | Clip]]:
        scenes, videos = self.synth / SCENE_IMAGES, self.synth / VIDEOS_DIR
        if not scenes.is_dir() and not videos.is_dir():
            raise InputError(f"{self.synth}: no SynthFaces output (paths.synth); run `facerep synth` first")
        found: list[tuple[str, str | Clip]] = []
        if scenes.is_dir():
            found += [(rel, rel) for rel in iter_images(scenes)]
        if videos.is_dir():
            found += [(c.key, c) for c in list_clips(videos)]
        return found

    def work(self, item: str | Clip) -> Outcome:
        if isinstance(item, Clip):
            return clip_frames(item, self.raw, self.sampling, VIDEOS)
        tree = ImageTree(self.synth / SCENE_IMAGES, SCENES, strip_suffix=True)
        return harvest_image(tree, item, self.raw, self.shared.max_pixels)
