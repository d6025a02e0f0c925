"""VoxCeleb frames (PCL section 4.1: 6 fps, centre crop) from a VoxCeleb2-layout clip tree, and face
tracks of VoxCeleb1/2 metadata over local source videos (facerep.harvest.voxceleb decodes both)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from facerep.errors import InputError
from facerep.harvest.manifest import Naming
from facerep.harvest.runner import Outcome
from facerep.harvest.source import Source, register
from facerep.harvest.voxceleb import Clip, SourceVideo, clip_frames, list_clips, list_tracks, track_frames
from facerep.paramsbase import StrictModel


class VoxCelebParams(StrictModel):
    """VoxCeleb-style talking-head clips decoded to frames (PCL section 4.1: 6 fps, centre crop)."""

    root: str | None = Field(None, description="VoxCeleb2-layout tree: idNNNNN/<video_id>/NNNNN.mp4")
    fps: float = Field(6.0, gt=0, description="frames extracted per second of video")
    crop: float = Field(
        0.8, gt=0, le=1, description="centre crop side as a fraction of the shorter frame side (PCL 4.1)"
    )
    size: int | None = Field(None, gt=0, description="resize crops to size x size px (null: keep)")
    jpeg_quality: int = Field(95, ge=1, le=100)
    metadata: str | None = Field(
        None, description="VoxCeleb1/2 metadata txt tree: <speaker>/<youtube id>/<clip>.txt"
    )
    videos: str | None = Field(None, description="local source videos <youtube id>.mp4 for `metadata`")
    track_scale: float = Field(1.5, gt=0, description="square face-track crop side over the box side")
    metadata_fps: float = Field(25.0, gt=0, description="frame rate the metadata frame numbers refer to")
    download: bool = Field(False, description="fetch missing source videos with yt-dlp (needs network)")
    license: str | None = Field(
        None, description="licence name recorded on every row (null: none; shard refuses them)"
    )


@register("voxceleb")
class VoxCelebSource(Source[Clip | SourceVideo]):
    """The clips of `harvest.voxceleb.root` (keyed `<speaker>/<video>/<clip>`) and the source videos
    of `harvest.voxceleb.metadata` (keyed by YouTube id), either or both."""

    params_model = VoxCelebParams
    rowless = frozenset({"download"})  # a downloaded video gives the rows a local one gives
    unit = "clips and source videos"

    def items(self) -> list[tuple[str, Clip | SourceVideo]]:
        cfg: VoxCelebParams = self.section
        if cfg.root is None and cfg.metadata is None:
            raise InputError("harvest.sources includes voxceleb: set harvest.voxceleb.root or .metadata")
        if cfg.metadata is not None and cfg.videos is None:
            raise InputError("harvest.voxceleb.metadata needs harvest.voxceleb.videos (local source videos)")
        found: list[tuple[str, Clip | SourceVideo]] = []
        if cfg.root is not None:
            found += [(c.key, c) for c in list_clips(Path(cfg.root))]
        if cfg.metadata is not None:
            found += [(ref, SourceVideo(ref, ts)) for ref, ts in list_tracks(Path(cfg.metadata)).items()]
        return found

    def work(self, item: Clip | SourceVideo) -> Outcome:
        cfg: VoxCelebParams = self.section
        if isinstance(item, Clip):
            return clip_frames(item, self.raw, cfg, Naming("voxceleb", "vox:", "voxceleb", cfg.license))
        return track_frames(item, self.raw, cfg)
