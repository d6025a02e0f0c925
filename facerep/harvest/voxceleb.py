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
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from PIL import Image

from facerep.errors import InputError
from facerep.harvest.manifest import Naming, make_row
from facerep.harvest.runner import Outcome
from facerep.harvest.validate import store

if TYPE_CHECKING:
    from facerep.harvest.sources.voxceleb import VoxCelebParams

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


def instants(fps: float) -> Iterator[float]:
    """k / fps for k = 0, 1, ...: the instants a clip is sampled at."""
    return (k / fps for k in itertools.count())


def frames_at(path: Path, times: Iterable[float]) -> Iterator[tuple[float, list[int], np.ndarray]]:
    """Decode `path` once, in order, and yield (frame time s, indices into `times`, RGB array) for
    each frame on screen at one or more of `times` (ascending; may be endless); a frame covering
    several instants is yielded once with all of them. Decoding stops at the last wanted instant or
    the clip's end. Both VoxCeleb inputs sample through this one loop.

    Only the kept frames are converted to RGB: decoding is the one unavoidable cost per frame.
    """
    wanted = iter(times)
    nxt, i = next(wanted, None), 0
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise av.error.InvalidDataError(0, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        for frame in container.decode(stream):
            if nxt is None:
                break
            t = float(frame.time) if frame.time is not None else nxt
            shown: list[int] = []
            while nxt is not None and nxt < t + duration - EPS:
                shown.append(i)
                nxt, i = next(wanted, None), i + 1
            if shown:
                yield t, shown, frame.to_ndarray(format="rgb24")


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


def clip_frames(clip: Clip, raw: Path, cfg: VoxCelebParams, naming: Naming) -> Outcome:
    """Frames of one clip at `cfg.fps`, centre-cropped to `cfg.crop`; a clip that cannot be decoded
    gets one row with status `corrupt_video`."""
    uri = clip.path.resolve().as_uri()
    rows: list[dict[str, Any]] = []
    try:
        for t, _, rgb in frames_at(clip.path, instants(cfg.fps)):
            data = encode_jpeg(Image.fromarray(centre_crop(rgb, cfg.crop)), cfg.size, cfg.jpeg_quality)
            rows.append(
                frame_row(
                    raw,
                    naming.source,
                    f"{naming.id_prefix}{clip.key}@{t:.3f}",
                    f"{uri}#t={t:.3f}",
                    f"{naming.out_prefix}/{clip.key}/{round(t * 1000):08d}.jpg",
                    data,
                    video_id=clip.video,
                    frame_time=round(t, 6),
                    speaker_id=clip.speaker,
                    license=naming.license,
                )
            )
    except (av.error.FFmpegError, OSError) as exc:
        row = make_row(
            f"{naming.id_prefix}{clip.key}", naming.source, uri, video_error(exc), license=naming.license
        )
        return Outcome([row])
    return Outcome(rows)


def video_error(exc: Exception) -> str:
    """The manifest status of a video that could not be read."""
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


@dataclass(frozen=True)
class SourceVideo:
    """A YouTube source video and every metadata track cut from it: decoded once for all of them."""

    reference: str
    tracks: list[Track]


def track_frames(item: SourceVideo, raw: Path, cfg: VoxCelebParams) -> Outcome:
    """Face-track frames of every track of one source video (found under `cfg.videos`, or fetched
    with `cfg.download`), each sampled frame cropped to a square around its box. A missing video is
    reported for every track and not journaled, so the next run looks for it again."""
    videos, ref, tracks = Path(cfg.videos or "."), item.reference, item.tracks

    def missing(status: str) -> list[dict[str, Any]]:
        return [
            make_row(
                f"vox:{t.key}",
                "voxceleb",
                f"youtube:{ref}",
                status,
                speaker_id=t.speaker,
                license=cfg.license,
            )
            for t in tracks
        ]

    video = find_video(videos, ref)
    if video is None and cfg.download:
        video = download_video(videos, ref)
        if video is None:
            return Outcome(missing("download_failed"), final=False)
    if video is None:
        return Outcome(missing("source_video_missing"), final=False)
    wanted = sorted(
        ((t, tr, r) for tr in tracks for t, r in track_targets(tr, cfg.fps, cfg.metadata_fps)),
        key=lambda w: (w[0], w[1].key),
    )
    uri = video.resolve().as_uri()
    rows: list[dict[str, Any]] = []
    try:
        for _, shown, rgb in frames_at(video, (w[0] for w in wanted)):
            for when, track, r in (wanted[j] for j in shown):
                rel_t = when - track.frames[0] / cfg.metadata_fps
                scale = [rgb.shape[1], rgb.shape[0], rgb.shape[1], rgb.shape[0]] if track.normalised else 1.0
                box = tuple(float(v) for v in track.boxes[r] * scale)
                img = square_crop(rgb, box, cfg.track_scale)  # type: ignore[arg-type]
                rows.append(
                    frame_row(
                        raw,
                        "voxceleb",
                        f"vox:{track.key}@{rel_t:.3f}",
                        f"{uri}#t={when:.3f}",
                        f"voxceleb/{track.key}/{round(rel_t * 1000):08d}.jpg",
                        encode_jpeg(img, cfg.size, cfg.jpeg_quality),
                        video_id=track.reference,
                        frame_time=round(rel_t, 6),
                        speaker_id=track.speaker,
                        license=cfg.license,
                    )
                )
    except (av.error.FFmpegError, OSError) as exc:
        return Outcome(missing(video_error(exc)))
    return Outcome(rows)
