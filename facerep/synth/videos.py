"""Talking-head clips in the VoxCeleb2 layout: one identity per clip, smooth pose and expression,
speech-like mouth motion, H.264 through PyAV, with per-frame ground truth.

Motion is a sum of slow sinusoids (pose) and a syllable-rate oscillation of the jaw (AU26) gated by
speaking/pausing phrases, which is what a talking head looks like at 25 fps: pose drifts over
seconds, the mouth opens and closes 3-6 times a second. Expressions change in 2-4 s segments with
0.5 s smoothstep transitions between their AU vectors.
"""

from __future__ import annotations

import dataclasses
import io
import string
from dataclasses import dataclass

import av
import cv2
import numpy as np

from facerep.synth.expressions import sample_expression
from facerep.synth.face3d import face_box, landmarks5, project, rotation
from facerep.synth.identity import make_identity
from facerep.synth.imaging import backdrop
from facerep.synth.layout import speaker_id
from facerep.synth.render import draw_person
from facerep.synth.sample import Degradation, FaceSample, sample_face_of

VIDEO_STREAM = 5
_ID_CHARS = string.ascii_letters + string.digits + "-_"
#: The talking head is framed looser than a detector crop, as in VoxCeleb2's face tracks.
VIDEO_FACE_FRACTION = 0.5


@dataclass
class Clip:
    """A clip's identity, ids and relative path, and its per-frame ground truth rows."""

    identity: int
    speaker_id: str
    video_id: str
    path: str  # relative to videos/
    frames: list[np.ndarray]
    rows: list[dict[str, object]]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _trajectory(rng: np.random.Generator, t: np.ndarray, amp: float, centre: float) -> np.ndarray:
    """A smooth random curve: three sinusoids of 0.05-0.5 Hz around `centre`."""
    out = np.full_like(t, centre)
    for _ in range(3):
        out += amp / 3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return out


def plan_clip(
    seed: int, index: int, identities: int, seconds: float, fps: int
) -> tuple[FaceSample, list[FaceSample], str]:
    """The per-frame samples of clip `index` (one identity, fixed scene and camera) and its video id."""
    rng = np.random.default_rng([seed, VIDEO_STREAM, index])
    ident = make_identity(seed, int(rng.integers(identities)))
    base = sample_face_of(rng, ident, 6)
    base = dataclasses.replace(base, degradation=Degradation(0.0, 0.0, 0, 0), box_scale=1.0, shift=(0.0, 0.0))
    video_id = "".join(rng.choice(list(_ID_CHARS), 11))
    n = max(1, round(seconds * fps))
    t = np.arange(n) / fps
    yaw = np.clip(_trajectory(rng, t, 45.0, rng.uniform(-20, 20)), -70, 70)
    pitch = np.clip(_trajectory(rng, t, 15.0, rng.uniform(-5, 5)), -30, 30)
    roll = np.clip(_trajectory(rng, t, 12.0, 0.0), -25, 25)
    # Expression segments with smoothstep blends of their AU vectors.
    bounds, classes, aus = [0.0], [], []
    while bounds[-1] < t[-1] + 1e-9:
        expr = int(rng.integers(7))
        au, _, _ = sample_expression(rng, expr)
        classes.append(expr)
        aus.append(au)
        bounds.append(bounds[-1] + rng.uniform(2.0, 4.0))
    # Speech: a 3-6 Hz syllable oscillation gated by phrases of speaking and pausing.
    rate = rng.uniform(3.0, 6.0)
    syllable = 0.5 - 0.5 * np.cos(2 * np.pi * rate * t + 0.6 * np.sin(2 * np.pi * 0.7 * t))
    gate = _smoothstep((np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 6)) + 0.6) * 2.0)
    samples = []
    for i, ti in enumerate(t):
        seg = int(np.searchsorted(bounds, ti, side="right") - 1)
        w = float(_smoothstep(np.array((ti - bounds[seg]) / 0.5)))
        prev = aus[seg - 1] if seg > 0 else aus[seg]
        au = {k: (1 - w) * prev[k] + w * aus[seg][k] for k in aus[seg]}
        au["au26"] = float(min(5.0, au["au26"] + 3.0 * syllable[i] * gate[i]))
        expr = classes[seg] if (w >= 0.5 or seg == 0) else classes[seg - 1]
        samples.append(
            dataclasses.replace(
                base, yaw=float(yaw[i]), pitch=float(pitch[i]), roll=float(roll[i]), au=au, expression=expr
            )
        )
    return base, samples, video_id


def render_clip(seed: int, index: int, identities: int, seconds: float, fps: int, size: int) -> Clip:
    """Render clip `index`: frames (RGB uint8) and their ground-truth rows."""
    base, samples, video_id = plan_clip(seed, index, identities, seconds, fps)
    # One framing for the whole clip (from the frontal face), so the head moves in the frame.
    unit = face_box(project(base.face.points, rotation(0.0, 0.0, 0.0), 1.0, (0.0, 0.0)))
    scale = VIDEO_FACE_FRACTION * size / max(unit[2] - unit[0], unit[3] - unit[1])
    centre = (size / 2 - scale * (unit[0] + unit[2]) / 2, 0.56 * size - scale * (unit[1] + unit[3]) / 2)
    bg = backdrop(base.background, size, size)
    spk = speaker_id(base.identity.identity)
    path = f"{spk}/{video_id}/{1:05d}.mp4"
    frames, rows = [], []
    for i, s in enumerate(samples):
        img = bg.copy()
        lm = draw_person(img, s, scale, centre)
        pts = s.face.points
        gap = float(np.mean(pts[[65, 66, 67], 1] - pts[[63, 62, 61], 1]))
        frames.append(img)
        rows.append(
            {
                "path": path,
                "speaker_id": spk,
                "video_id": video_id,
                "frame_index": i,
                "time": i / fps,
                "identity": base.identity.identity,
                "yaw": s.yaw,
                "pitch": s.pitch,
                "roll": s.roll,
                "expression": s.expression,
                "mouth_open": float(np.clip(gap / 0.45, 0.0, 1.0)),
                "bbox": face_box(lm).tolist(),
                "landmarks5": landmarks5(lm).reshape(-1).tolist(),
            }
        )
    return Clip(base.identity.identity, spk, video_id, path, frames, rows)


def encode_mp4(frames: list[np.ndarray], fps: int) -> bytes:
    """H.264 (yuv420p) in MP4 with the same bytes for the same frames: x264 runs on one thread at a
    constant QP (its CRF rate control gave process-dependent bytes here: it is floating point), and
    the RGB to YUV 4:2:0 conversion is OpenCV's."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        h, w = frames[0].shape[:2]
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"qp": "22", "preset": "veryfast", "threads": "1"}
        for img in frames:
            yuv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
