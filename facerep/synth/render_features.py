"""The facial features drawn on the shaded head: brows, expression lines, eyes, nostrils and lips.

Each is an anti-aliased OpenCV polygon or line through the projected 3-D landmarks, so labels and
pixels agree; a feature is drawn only where its point of the head faces the camera and is not
hidden behind the head (`Surface.visible`), tinted by the head's shading under it.
"""

from __future__ import annotations

import cv2
import numpy as np

from facerep.synth.face3d import EYE_L, EYE_R
from facerep.synth.render_draw import (
    AA,
    ONE,
    SHIFT,
    Offset,
    View,
    blend_layer,
    catmull_closed,
    pt,
    pts,
    thick,
)
from facerep.synth.render_head import Surface
from facerep.synth.sample import FaceSample

BROW_R, BROW_L = np.arange(17, 22), np.arange(22, 27)


def _draw_eye(
    img: np.ndarray, lm: np.ndarray, idx: np.ndarray, s: FaceSample, k: float, scale: float, off: Offset
) -> None:
    """Sclera, iris and pupil clipped to the lid opening, then the lash line."""
    poly = catmull_closed(lm[idx], 3)
    centre = lm[idx].mean(axis=0)
    width = float(np.linalg.norm(lm[idx[3]] - lm[idx[0]]))
    x0, y0 = np.floor(poly.min(axis=0) - off - 2).astype(int)
    x1, y1 = np.ceil(poly.max(axis=0) - off + 2).astype(int)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    sub_off = (off[0] + x0, off[1] + y0)
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [pts(poly, sub_off)], 255, AA, SHIFT)
    layer = np.empty_like(roi)
    layer[:] = np.clip(np.array([236.0, 232.0, 226.0]) * k, 0, 255)
    iris_c = centre + np.array([s.gaze[0], s.gaze[1]]) * width
    r_iris = max(0.28 * width, 0.055 * scale, 0.9)
    iris_col = (np.asarray(s.identity.iris) * k).tolist()
    cv2.circle(layer, pt(iris_c, sub_off), round(r_iris * ONE), iris_col, -1, AA, SHIFT)
    cv2.circle(layer, pt(iris_c, sub_off), round(max(0.45 * r_iris, 0.6) * ONE), (12, 10, 10), -1, AA, SHIFT)
    blend_layer(roi, layer, mask)
    lash = (np.asarray(s.identity.brow_color) * 0.4).tolist()
    cv2.polylines(img, [pts(lm[idx[:4]], off)], False, lash, thick(0.03 * scale), AA, SHIFT)


def _brow(lm: np.ndarray, idx: np.ndarray, thickness: float, inner_last: bool) -> np.ndarray:
    """A tapered brow polygon around the 5 brow landmarks (thicker at the inner end)."""
    p = lm[idx]
    d = np.empty_like(p)
    d[1:-1] = (p[2:] - p[:-2]) / 2
    d[0], d[-1] = p[1] - p[0], p[-1] - p[-2]
    n = np.stack([d[:, 1], -d[:, 0]], axis=1)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    taper = np.linspace(0.55, 1.0, len(p))
    if not inner_last:
        taper = taper[::-1]
    half = (thickness / 2) * taper[:, None]
    return np.vstack([p + n * half, (p - n * half)[::-1]])


def _draw_brows(
    img: np.ndarray, s: FaceSample, view: View, lm: np.ndarray, view_z: np.ndarray, surf: Surface
) -> None:
    """Both brows, thinner as they turn away."""
    ident = s.identity
    brow_col = np.asarray(ident.brow_color)
    for idx, sign, inner_last in ((BROW_R, -1.0, True), (BROW_L, 1.0, False)):
        f = view.facing((0.45 * sign, -0.2, 0.87))
        if f > 0.1 and surf.visible(lm[idx[2]], float(view_z[idx[2]]), view.off):
            k = surf.shade_at(lm[idx[2]], view.off)
            poly = _brow(lm, idx, ident.brow_thickness * view.scale * (0.5 + 0.5 * f), inner_last)
            cv2.fillPoly(img, [pts(poly, view.off)], (brow_col * min(k, 1.0)).tolist(), AA, SHIFT)


def _draw_forehead_lines(img: np.ndarray, s: FaceSample, view: View, surf: Surface, lm: np.ndarray) -> None:
    """The frown lines between the brows (AU4) and the horizontal lines of raised brows (AU1 + AU2)."""
    ident, au = s.identity, s.au
    skin = np.asarray(ident.skin)
    k_mid = surf.shade_at(lm[27], view.off)
    if au["au04"] > 1.0:
        g = min((au["au04"] - 1.0) / 4.0, 1.0)
        col = (skin * k_mid * (1 - 0.35 * g)).tolist()
        for dx in (-0.06, 0.06):
            pts3 = np.array([[dx, -0.72, 0.95], [dx * 0.8, -0.5, 0.97]])
            pts3[:, 1] += s.face.points[21, 1] + 0.62
            line = pts(view.project(pts3), view.off)
            cv2.polylines(img, [line], False, col, thick(0.03 * view.scale), AA, SHIFT)
    raise_k = (au["au01"] + au["au02"]) / 10.0
    if raise_k > 0.25 and not ident.bangs:
        col = (skin * k_mid * (1 - 0.3 * raise_k)).tolist()
        for dy in (-0.95, -1.1):
            xs = np.linspace(-0.45, 0.45, 7)
            pts3 = np.stack([xs, dy + 0.08 * xs**2, np.full_like(xs, 0.9)], axis=1)
            line = pts(view.project(pts3), view.off)
            cv2.polylines(img, [line], False, col, thick(0.025 * view.scale), AA, SHIFT)


def _draw_smile_folds(img: np.ndarray, s: FaceSample, view: View, surf: Surface) -> None:
    """The folds from the wings of the nose to the mouth corners of a smile (AU12, AU10)."""
    au, points = s.au, s.face.points
    skin = np.asarray(s.identity.skin)
    smile = (au["au12"] + 0.5 * au["au10"]) / 5.0
    if smile <= 0.15:
        return
    for sign, wing, corner in ((-1, 31, 48), (1, 35, 54)):
        f = view.facing((0.5 * sign, 0.2, 0.85))
        a3 = points[wing] + np.array([0.09 * sign, -0.02, -0.05])
        c3 = points[corner] + np.array([0.1 * sign, 0.05, -0.04])
        m3 = (a3 + c3) / 2 + np.array([0.07 * sign, 0.0, 0.0])
        fold = np.stack([a3, m3, c3])
        line = view.project(fold)
        fold_z = (fold @ view.rot.T)[:, 2]
        if f <= 0.15 or not all(surf.visible(line[j], float(fold_z[j]), view.off) for j in range(3)):
            continue
        k = surf.shade_at(line[1], view.off)
        col = (skin * k * (1 - 0.4 * min(smile, 1))).tolist()
        cv2.polylines(img, [pts(line, view.off)], False, col, thick(0.035 * view.scale), AA, SHIFT)


def _draw_nostrils(img: np.ndarray, s: FaceSample, view: View, surf: Surface, lm: np.ndarray) -> None:
    """Two dark ellipses under the nose tip, when the underside of the nose faces the camera."""
    if view.facing((0, 0.6, 0.8)) <= 0.1:
        return
    k = surf.shade_at(lm[33], view.off)
    dark = (np.asarray(s.identity.skin) * 0.35 * k).tolist()
    for a_i, b_i in ((31, 32), (34, 35)):
        c = (lm[a_i] + lm[b_i]) / 2
        ax = max(0.045 * view.scale, 0.6)
        axes = (round(ax * ONE), round(ax * 0.6 * ONE))
        cv2.ellipse(img, pt(c, view.off), axes, 0, 0, 360, dark, -1, AA, SHIFT)


def _draw_mouth(
    img: np.ndarray, s: FaceSample, lm: np.ndarray, surf: Surface, scale: float, off: Offset
) -> None:
    """Lips (upper darker), the dark mouth opening with teeth, and the lip line."""
    k = surf.shade_at(lm[62], off)
    lips = np.asarray(s.identity.lips) * k
    upper = np.vstack([lm[[48, 49, 50, 51, 52, 53, 54]], lm[[64, 63, 62, 61, 60]]])
    lower = np.vstack([lm[[54, 55, 56, 57, 58, 59, 48]], lm[[60, 67, 66, 65, 64]]])
    cv2.fillPoly(img, [pts(lower, off)], np.clip(lips * 1.05, 0, 255).tolist(), AA, SHIFT)
    cv2.fillPoly(img, [pts(upper, off)], (lips * 0.85).tolist(), AA, SHIFT)
    inner = lm[60:68]
    gap = float(np.mean(np.linalg.norm(lm[[65, 66, 67]] - lm[[63, 62, 61]], axis=1)))
    if gap > 0.6:
        cv2.fillPoly(img, [pts(inner, off)], (40.0 * k, 12.0 * k, 18.0 * k), AA, SHIFT)
        tooth = min(gap * 0.45, 0.09 * scale)
        down = np.array([0.0, tooth])
        teeth = np.vstack([lm[[60, 61, 62, 63, 64]], (lm[[64, 63, 62, 61, 60]] + down)])
        teeth_col = (np.array([228.0, 224.0, 212.0]) * min(k, 1.05)).tolist()
        cv2.fillPoly(img, [pts(teeth, off)], teeth_col, AA, SHIFT)
    lip_line = pts(lm[[60, 61, 62, 63, 64]], off)
    cv2.polylines(img, [lip_line], False, (lips * 0.45).tolist(), thick(0.025 * scale), AA, SHIFT)


def draw_features(
    img: np.ndarray, s: FaceSample, view: View, lm: np.ndarray, view_z: np.ndarray, surf: Surface
) -> None:
    """Brows, expression lines, eyes, nostrils and lips through the projected landmarks `lm` (image
    px; `view_z` their view depths) into `img`, the image window at `view.off`."""
    _draw_brows(img, s, view, lm, view_z, surf)
    _draw_forehead_lines(img, s, view, surf, lm)
    for idx, sign in ((EYE_R, -1.0), (EYE_L, 1.0)):
        f = view.facing((0.35 * sign, 0.0, 0.94))
        eye = lm[idx].mean(axis=0)
        if f > 0.05 and surf.visible(eye, float(view_z[idx].mean()), view.off):
            k = 0.45 + 0.6 * surf.shade_at(eye, view.off)
            _draw_eye(img, lm, idx, s, k, view.scale, view.off)
    _draw_smile_folds(img, s, view, surf)
    _draw_nostrils(img, s, view, surf, lm)
    _draw_mouth(img, s, lm, surf, view.scale, view.off)
