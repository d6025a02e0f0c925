"""Backdrops, camera degradations and encoders shared by faces, scenes and videos."""

from __future__ import annotations

import cv2
import numpy as np

from facerep.synth.sample import Background, Degradation


def backdrop(bg: Background, height: int, width: int) -> np.ndarray:
    """A two-colour linear gradient plus a coarse 4x4 texture, bilinearly upsampled (uint8 RGB).

    The gradient runs along `bg.angle` through the image centre; it is sampled with the texture on
    the 4x4 grid and upsampled in one resize (bilinear interpolation reproduces a linear ramp), so
    mirroring the image equals using angle pi - angle and the texture flipped left-right.
    """
    g = (np.arange(4, dtype=np.float32) + 0.5) / 4 - 0.5
    t = 0.5 + np.cos(bg.angle) * g[None, :] + np.sin(bg.angle) * g[:, None]
    a, b = np.asarray(bg.color_a, np.float32), np.asarray(bg.color_b, np.float32)
    grid = a + t[..., None] * (b - a) + bg.texture_amp * bg.texture
    img = cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def degrade(img: np.ndarray, d: Degradation, face_px: float) -> np.ndarray:
    """Blur (sigma relative to the face size), additive Gaussian noise, then JPEG round trip."""
    out = img
    sigma = d.blur * face_px
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if d.noise > 0:
        rng = np.random.default_rng(d.noise_seed)
        noise = rng.standard_normal(out.shape, dtype=np.float32) * d.noise
        out = np.clip(out + noise + 0.5, 0, 255).astype(np.uint8)
    if d.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, d.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an RGB image (fixed compression level: same pixels, same bytes)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG bytes of an RGB image at a fixed quality."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
