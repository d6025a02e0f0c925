"""Accessories drawn last, in front of hair and face: a cap's brim, earrings and glasses.

Each is placed in head coordinates and projected with the head, so it turns with it; parts on a side
turned away from the camera (an earring, a temple of the glasses) are left out.
"""

from __future__ import annotations

import cv2
import numpy as np

from facerep.synth.face3d import EYE_L, EYE_R
from facerep.synth.render_draw import AA, ONE, SHIFT, View, blend_layer, pt, pts, thick
from facerep.synth.sample import FaceSample


def _draw_brim(img: np.ndarray, s: FaceSample, view: View, w: float) -> None:
    """A cap's peak over the forehead (`w` the head's half-width)."""
    th = np.linspace(0.15 * np.pi, 0.85 * np.pi, 12)
    rim = np.stack([1.12 * w * np.cos(th), np.full_like(th, -0.95), 1.12 * np.sin(th)], axis=1)
    peak = np.stack(
        [0.85 * w * np.cos(th[::-1]), np.full_like(th, -0.9), 1.12 + 0.5 * np.sin(th[::-1])], axis=1
    )
    brim = view.project(np.vstack([rim, peak]))
    col = np.asarray(s.hat_color) * 0.7 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
    cv2.fillPoly(img, [pts(brim, view.off)], col.tolist(), AA, SHIFT)


def _draw_earrings(img: np.ndarray, s: FaceSample, view: View, w: float) -> None:
    """A gold drop under each ear that faces the camera."""
    gold = np.array([235.0, 195.0, 70.0]) * (s.lighting.ambient + 0.6 * s.lighting.diffuse)
    for sign in (-1.0, 1.0):
        if view.facing((sign, 0.0, 0.3)) < -0.1:
            continue
        top = np.array([[sign * 1.0 * w, 0.3, -0.08], [sign * 1.0 * w, 0.55, -0.05]])
        q = view.project(top)
        off = view.off
        cv2.line(img, pt(q[0], off), pt(q[1], off), gold.tolist(), thick(0.04 * view.scale), AA, SHIFT)
        radius = round(max(0.14 * view.scale, 2.0) * ONE)
        cv2.circle(img, pt(q[1], off), radius, gold.tolist(), -1, AA, SHIFT)


def _draw_glasses(img: np.ndarray, s: FaceSample, view: View, w: float) -> None:
    """Two lens rims (darkened lenses for sunglasses), a bridge and the temples on the sides that
    face the camera."""
    ident = s.identity
    p = s.face.points
    off = view.off
    th = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    exponent = 1.0 if ident.glasses_round else 0.4  # superellipse: 1 an ellipse, smaller squarer
    rim_x = np.sign(np.cos(th)) * np.abs(np.cos(th)) ** exponent
    rim_y = np.sign(np.sin(th)) * np.abs(np.sin(th)) ** exponent
    col = (np.asarray(ident.glasses_color) * (s.lighting.ambient + 0.6 * s.lighting.diffuse) + 10).tolist()
    width = max(2, round(0.075 * view.scale))
    rims = []
    for idx in (EYE_R, EYE_L):
        c = p[idx].mean(axis=0)
        half_w = 0.27 * (1.0 + ident.shape.eye_size * 0.5)
        ring = np.stack(
            [c[0] + half_w * rim_x, c[1] + 0.02 + 0.19 * rim_y, np.full_like(th, c[2] + 0.17)], axis=1
        )
        rims.append(ring)
    proj = [view.project(r) for r in rims]
    if s.sunglasses:
        x0, y0 = np.floor(np.vstack(proj).min(axis=0) - off).astype(int).clip(0)
        x1, y1 = np.ceil(np.vstack(proj).max(axis=0) - off).astype(int) + 1
        roi = img[y0:y1, x0:x1]
        if roi.size:
            mask = np.zeros(roi.shape[:2], np.uint8)
            cv2.fillPoly(mask, [pts(q, (off[0] + x0, off[1] + y0)) for q in proj], 200, AA, SHIFT)
            blend_layer(roi, np.full_like(roi, 25), mask)
    for q in proj:
        cv2.polylines(img, [pts(q, off)], True, col, width, AA, SHIFT)
    bridge = view.project(
        np.array([rims[0][0], [0.0, rims[0][0][1] - 0.05, rims[0][0][2] + 0.02], rims[1][10]])
    )
    cv2.polylines(img, [pts(bridge, off)], False, col, width, AA, SHIFT)
    for ring, sign, k in ((rims[0], -1.0, 10), (rims[1], 1.0, 0)):
        if view.facing((sign, 0.0, 0.15)) > 0.0:
            temple = np.array([ring[k], [sign * 1.0 * w, ring[k][1] + 0.05, -0.1]])
            cv2.polylines(img, [pts(view.project(temple), off)], False, col, width, AA, SHIFT)


def draw_accessories(img: np.ndarray, s: FaceSample, view: View) -> None:
    """Hat brim, earrings and glasses of sample `s` into `img`, the image window at `view.off`."""
    w = s.face.ellipsoids[0].radii[0] / 1.05  # about the cranium's half-width: where ears and temples sit
    if s.hat and s.hat_cap:
        _draw_brim(img, s, view, w)
    if s.earrings:
        _draw_earrings(img, s, view, w)
    if s.eyeglasses:
        _draw_glasses(img, s, view, w)
