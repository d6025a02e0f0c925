"""VoxCeleb frames: talking-head clips decoded once, in order, sampled at `harvest.voxceleb.fps`.

PCL (Liu et al., section 4.1) trains on VoxCeleb1+2 "video frames at 6 fps, cropped to faces shown in
the center of frames"; this module produces those frames. Two inputs:

- a VoxCeleb2-layout tree `idNNNNN/<video_id>/NNNNN.mp4` of face-centred clips (`harvest.voxceleb.root`,
  also SynthFaces videos): each sampled frame is centre-cropped to `crop` of its shorter side;
- VoxCeleb1/2 metadata (`<speaker>/<youtube id>/<clip>.txt`: frame numbers and face boxes) over local
  source videos `<youtube id>.mp4` (`harvest.voxceleb.videos`): each source video is decoded once and
  every clip's face track is cropped as a square around its box. yt-dlp fetches missing videos only
  when `harvest.voxceleb.download` is true.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from facerep.errors import InputError
from facerep.harvest.config import VoxCelebParams
from facerep.harvest.manifest import Journal, make_row
from facerep.harvest.runner import Outcome, run_items
from facerep.harvest.validate import store

VIDEO_EXTS = (".mp4", ".mkv", ".webm")
EPS = 1e-6


@dataclass(frozen=True)
class Clip:
    """One clip of the VoxCeleb2 tree."""

    speaker: str
    video: str
    clip: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.speaker}/{self.video}/{self.clip}"


def list_clips(root: Path) -> list[Clip]:
    """Every `<speaker>/<video>/<clip>.mp4` under `root`, sorted."""
    if not root.is_dir():
        raise InputError(f"{root}: VoxCeleb clip tree not found (harvest.voxceleb.root)")
    clips = [
        Clip(p.parts[-3], p.parts[-2], p.stem, p)
        for p in root.glob("*/*/*")
        if p.suffix.lower() in VIDEO_EXTS and p.is_file()
    ]
    return sorted(clips, key=lambda c: c.key)


def sample_frames(path: Path, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """Decode `path` once, in order, yielding (time s, RGB array) for the frame showing each instant
    k / fps, k = 0, 1, ... up to the clip's end; a frame covering several instants is yielded once.

    Only the kept frames are converted to RGB: decoding is the one unavoidable cost per frame.
    """
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise av.error.InvalidDataError(0, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        step = 1.0 / fps
        k = 0
        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else k * step
            if t + 1.0 / rate - EPS > k * step:
                yield t, frame.to_ndarray(format="rgb24")
                k = math.floor((t + 1.0 / rate - EPS) / step) + 1


def centre_crop(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """The centred square whose side is `fraction` of the shorter image side (PCL section 4.1)."""
    h, w = rgb.shape[:2]
    side = max(1, round(fraction * min(h, w)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    return rgb[y0 : y0 + side, x0 : x0 + side]


def square_crop(rgb: np.ndarray, box: tuple[float, float, float, float], scale: float) -> Image.Image:
    """A square of side `scale` x max(w, h) centred on the pixel box (x, y, w, h); outside is black."""
    x, y, w, h = box
    side = max(1.0, scale * max(w, h))
    cx, cy = x + w / 2, y + h / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    return Image.fromarray(rgb).crop((left, top, left + round(side), top + round(side)))


def encode_jpeg(img: Image.Image, size: int | None, quality: int) -> bytes:
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def frame_row(
    raw: Path, source: str, image_id: str, uri: str, rel: str, data: bytes, **fields: Any
) -> dict[str, Any]:
    """Store one frame JPEG and describe it."""
    path, sha = store(raw, rel, data)
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return make_row(image_id, source, uri, "ok", path=path, sha256=sha, width=width, height=height, **fields)


def harvest_clips(
    root: Path,
    raw: Path,
    journal: Journal,
    cfg: VoxCelebParams,
    *,
    source: str = "voxceleb",
    id_prefix: str = "vox:",
    out_prefix: str = "voxceleb",
    license: str | None = None,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Frames of every clip of a VoxCeleb2-layout tree; a clip that cannot be decoded gets one row
    with status `corrupt_video`. `license` is recorded on every row."""

    def work(clip: Clip) -> Outcome:
        uri = clip.path.resolve().as_uri()
        rows: list[dict[str, Any]] = []
        try:
            for t, rgb in sample_frames(clip.path, cfg.fps):
                data = encode_jpeg(Image.fromarray(centre_crop(rgb, cfg.crop)), cfg.size, cfg.jpeg_quality)
                rows.append(
                    frame_row(
                        raw,
                        source,
                        f"{id_prefix}{clip.key}@{t:.3f}",
                        f"{uri}#t={t:.3f}",
                        f"{out_prefix}/{clip.key}/{round(t * 1000):08d}.jpg",
                        data,
                        video_id=clip.video,
                        frame_time=round(t, 6),
                        speaker_id=clip.speaker,
                        license=license,
                    )
                )
        except (av.error.FFmpegError, OSError) as exc:
            status = _video_error(exc)
            return Outcome([make_row(f"{id_prefix}{clip.key}", source, uri, status, license=license)])
        return Outcome(rows)

    clips = list_clips(root)
    return run_items([(c.key, c) for c in clips], work, journal, f"{source} clips", workers)


def _video_error(exc: Exception) -> str:
    return "corrupt_video" if isinstance(exc, av.error.FFmpegError) else f"unreadable: {exc}"


# --- VoxCeleb1/2 metadata over source videos -------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """One metadata txt file: a clip of a source video with a face box per frame (pixels or normalised)."""

    speaker: str
    reference: str
    clip: str
    frames: np.ndarray  # (n,) frame numbers at `metadata_fps`
    boxes: np.ndarray  # (n, 4) x, y, w, h
    normalised: bool

    @property
    def key(self) -> str:
        return f"{self.speaker}/{self.reference}/{self.clip}"


_HEADER = re.compile(r"^\s*(Identity|Reference)\s*:\s*(\S+)")


def parse_track(path: Path, speaker: str, clip: str) -> Track:
    """Parse a VoxCeleb txt file: `Identity`/`Reference` header lines, then `FRAME X Y W H` rows.

    VoxCeleb2 boxes are fractions of the frame size, VoxCeleb1 boxes are pixels: a file whose values
    all lie in [0, 1] is read as normalised.
    """
    header: dict[str, str] = {}
    rows: list[list[float]] = []
    in_table = False
    for line in path.read_text().splitlines():
        if in_table:
            parts = line.split()
            if len(parts) >= 5:
                rows.append([float(v) for v in parts[:5]])
        elif line.strip().upper().startswith("FRAME"):
            in_table = True
        elif m := _HEADER.match(line):
            header[m.group(1)] = m.group(2)
    if "Reference" not in header or not rows:
        raise InputError(f"{path}: not a VoxCeleb metadata file (needs Reference and FRAME rows)")
    table = np.asarray(rows)
    boxes = table[:, 1:5]
    return Track(speaker, header["Reference"], clip, table[:, 0].astype(int), boxes, bool(boxes.max() <= 1.0))


def list_tracks(metadata: Path) -> dict[str, list[Track]]:
    """Metadata tracks grouped by source video (YouTube id), each group sorted."""
    if not metadata.is_dir():
        raise InputError(f"{metadata}: VoxCeleb metadata tree not found (harvest.voxceleb.metadata)")
    groups: dict[str, list[Track]] = {}
    for txt in sorted(metadata.glob("*/*/*.txt")):
        track = parse_track(txt, txt.parts[-3], txt.stem)
        groups.setdefault(track.reference, []).append(track)
    return {ref: sorted(ts, key=lambda t: t.key) for ref, ts in sorted(groups.items())}


def track_targets(track: Track, fps: float, metadata_fps: float) -> list[tuple[float, int]]:
    """(source time, row index) of each instant k / fps from the track's first frame to its last."""
    start, end = track.frames[0] / metadata_fps, track.frames[-1] / metadata_fps
    times = start + np.arange(0, math.floor((end - start) * fps + EPS) + 1) / fps
    rows = np.searchsorted(track.frames / metadata_fps, times - EPS)
    return [(float(t), int(min(r, len(track.frames) - 1))) for t, r in zip(times, rows, strict=True)]


def find_video(videos: Path, reference: str) -> Path | None:
    for ext in VIDEO_EXTS:
        p = videos / f"{reference}{ext}"
        if p.is_file():
            return p
    return None


def download_video(videos: Path, reference: str) -> Path | None:
    """Fetch a YouTube source video with yt-dlp (only when `harvest.voxceleb.download` is true)."""
    try:
        import yt_dlp
    except ImportError as exc:
        raise InputError(
            "harvest.voxceleb.download is true but yt-dlp is not installed: pip install 'facerep[voxceleb]'"
        ) from exc
    opts = {"outtmpl": str(videos / "%(id)s.%(ext)s"), "format": "mp4", "quiet": True, "noprogress": True}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            ydl.download([f"https://www.youtube.com/watch?v={reference}"])
    except yt_dlp.utils.DownloadError:
        return None
    return find_video(videos, reference)


def harvest_tracks(
    raw: Path, journal: Journal, cfg: VoxCelebParams, *, source: str = "voxceleb", workers: int = 2
) -> list[dict[str, Any]]:
    """Face-track frames of every metadata clip, decoding each source video once, in order; every row
    carries `harvest.voxceleb.license`."""
    if cfg.metadata is None or cfg.videos is None:
        raise InputError("harvest.voxceleb.metadata needs harvest.voxceleb.videos (local source videos)")
    metadata, videos = Path(cfg.metadata), Path(cfg.videos)
    groups = list_tracks(metadata)

    def missing(ref: str, tracks: list[Track], status: str) -> list[dict[str, Any]]:
        uri = f"youtube:{ref}"
        return [
            make_row(f"vox:{t.key}", source, uri, status, speaker_id=t.speaker, license=cfg.license)
            for t in tracks
        ]

    def work(item: tuple[str, list[Track]]) -> Outcome:
        ref, tracks = item
        video = find_video(videos, ref)
        if video is None and cfg.download:
            video = download_video(videos, ref)
            if video is None:
                return Outcome(missing(ref, tracks, "download_failed"), final=False)
        if video is None:
            return Outcome(missing(ref, tracks, "source_video_missing"), final=False)
        wanted = sorted(
            (
                (t, tr, r, t - tr.frames[0] / cfg.metadata_fps)
                for tr in tracks
                for t, r in track_targets(tr, cfg.fps, cfg.metadata_fps)
            ),
            key=lambda w: (w[0], w[1].key),
        )
        rows: list[dict[str, Any]] = []
        try:
            rows = _crop_tracks(video, wanted, raw, source, cfg)
        except (av.error.FFmpegError, OSError) as exc:
            return Outcome(missing(ref, tracks, _video_error(exc)))
        return Outcome(rows)

    items = [(ref, (ref, tracks)) for ref, tracks in groups.items()]
    return run_items(items, work, journal, f"{source} source videos", workers)


def _crop_tracks(
    video: Path, wanted: list[tuple[float, Track, int, float]], raw: Path, source: str, cfg: VoxCelebParams
) -> list[dict[str, Any]]:
    """Decode `video` once and crop each wanted (time, track, box row) at the frame showing that time."""
    rows: list[dict[str, Any]] = []
    uri = video.resolve().as_uri()
    i = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            if i >= len(wanted):
                break
            t = float(frame.time or 0.0)
            rgb: np.ndarray | None = None
            while i < len(wanted) and wanted[i][0] < t + 1.0 / rate - EPS:
                when, track, r, rel_t = wanted[i]
                i += 1
                if rgb is None:
                    rgb = frame.to_ndarray(format="rgb24")
                box = track.boxes[r] * (
                    [rgb.shape[1], rgb.shape[0], rgb.shape[1], rgb.shape[0]] if track.normalised else 1.0
                )
                img = square_crop(rgb, tuple(float(v) for v in box), cfg.track_scale)  # type: ignore[arg-type]
                data = encode_jpeg(img, cfg.size, cfg.jpeg_quality)
                rows.append(
                    frame_row(
                        raw,
                        source,
                        f"vox:{track.key}@{rel_t:.3f}",
                        f"{uri}#t={when:.3f}",
                        f"voxceleb/{track.key}/{round(rel_t * 1000):08d}.jpg",
                        data,
                        video_id=track.reference,
                        frame_time=round(rel_t, 6),
                        speaker_id=track.speaker,
                        license=cfg.license,
                    )
                )
    return rows
