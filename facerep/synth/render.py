"""Drawing one SynthFaces person: a ray-cast, shaded 3-D head with drawn facial features.

The head surface (cranium, jaw, nose, ears, hair and hat shells) is a union of ellipsoids
(`facerep.synth.face3d`) ray-cast per pixel under a weak-perspective camera, so the head gets real
3-D shading, eye sockets and a shaded nose: what makes a procedural face detectable by a real face
detector (OFFLINE.md). Regions painted on the surface (hair, beard, moustache, sockets, cheeks) are
defined in head coordinates, so they turn with the head. Eyes, brows, lips, glasses and earrings
are anti-aliased OpenCV polygons through the projected 3-D landmarks, so labels and pixels agree.

Everything is vectorised numpy over the head's bounding box plus a few dozen OpenCV calls, which
keeps a 64 px face at a few milliseconds on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerep.synth.face3d import (
    EYE_L,
    EYE_R,
    PART_CRANIUM,
    PART_EAR,
    PART_JAW,
    Ellipsoid,
    Face3D,
    project,
    rotation,
)
from facerep.synth.sample import FaceSample

SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn to 1/16 px
_ONE = 1 << SHIFT
_AA = cv2.LINE_AA
_HAIR, _HAT = 10, 11  # pseudo parts of the shells
#: Largest ray-casting grid side: bigger heads are cast on a coarser grid and upsampled (the surface
#: is smooth; edges and features are still drawn at full resolution).
MAX_GRID = 120


def _pts(xy: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Continuous pixel coordinates to OpenCV's fixed-point integer points (pixel centres at i)."""
    p = (xy - np.asarray(offset) - 0.5) * _ONE
    return np.rint(p).astype(np.int32).reshape(-1, 1, 2)


def _thick(width_px: float) -> int:
    return max(1, round(width_px))


def _catmull_closed(p: np.ndarray, n: int = 3) -> np.ndarray:
    """A closed Catmull-Rom curve through `p` with `n` points per segment (round eyes and lips)."""
    prev, nxt, nxt2 = np.roll(p, 1, 0), np.roll(p, -1, 0), np.roll(p, -2, 0)
    t = (np.arange(n) / n)[None, :, None]
    t2, t3 = t * t, t * t * t
    a, b, c, d = prev[:, None], p[:, None], nxt[:, None], nxt2[:, None]
    out = 0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3)
    return out.reshape(-1, 2)


@dataclass
class Surface:
    """The ray-cast head over a pixel window: which part each pixel shows, where, and its shading."""

    hit: np.ndarray  # bool (h, w)
    part: np.ndarray  # int (h, w)
    q: tuple[np.ndarray, np.ndarray, np.ndarray]  # head coordinates of the visible point
    shade: np.ndarray  # float (h, w)
    depth: np.ndarray  # view z of the visible point (-inf where nothing)
    step: int = 1  # image pixels per grid cell (the head is ray-cast on a coarser grid when large)


def _cast(
    e: Ellipsoid, rot: np.ndarray, us: np.ndarray, vs: np.ndarray
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """View z of the camera-facing intersection of each pixel ray with `e` (-inf on a miss).

    Rays are cast only inside the ellipsoid's screen bounding square (`us`, `vs` are the pixel-centre
    coordinates of the grid's columns and rows); returns the depths there and the grid slices.
    """
    rot = rot.astype(np.float32)
    c, r = np.asarray(e.centre, dtype=np.float32), np.asarray(e.radii, dtype=np.float32)
    pc = rot @ c
    reach = float(r.max())
    xs = slice(int(np.searchsorted(us, pc[0] - reach)), int(np.searchsorted(us, pc[0] + reach)))
    ys = slice(int(np.searchsorted(vs, pc[1] - reach)), int(np.searchsorted(vs, pc[1] + reach)))
    u, v = us[xs][None, :], vs[ys][:, None]
    a = rot[2] / r
    bx = (u * rot[0, 0] + v * rot[1, 0] - c[0]) / r[0]
    by = (u * rot[0, 1] + v * rot[1, 1] - c[1]) / r[1]
    bz = (u * rot[0, 2] + v * rot[1, 2] - c[2]) / r[2]
    aa = float(a @ a)
    ab = bx * a[0] + by * a[1] + bz * a[2]
    disc = ab * ab - aa * (bx * bx + by * by + bz * bz - 1.0)
    t = (np.sqrt(np.maximum(disc, 0.0)) - ab) / aa
    t[disc <= 0] = -np.inf
    return t, (ys, xs)


def _shell_hair(u: np.ndarray, v: np.ndarray, w: np.ndarray, s: FaceSample) -> np.ndarray:
    """Hair region on the unit cranium sphere (u right, v down, w front): hairline, sides, back."""
    ident = s.identity
    hl = (ident.hairline + 0.38) / 1.45
    u2 = u * u
    front_line = hl + 0.5 * u2 * u2
    if ident.bangs:
        front_line = np.where(np.abs(u) < 0.62, -0.22 + 0.02 * np.cos(u * 40.0), front_line)
    side_low = 0.62 if ident.long_hair else 0.0
    back = (w < 0.35) & (v < side_low - 0.4 * np.minimum(w, 0.0))
    if ident.bald:
        return (w < 0.3) & (v > -0.35) & (v < side_low + 0.05)
    return (v < front_line) | back


def _hat_region(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    return v < -0.36 + 0.15 * np.clip(-w, 0.0, 1.0)


def raycast(face: Face3D, s: FaceSample, rot: np.ndarray, us: np.ndarray, vs: np.ndarray) -> Surface:
    """Ray-cast the head (plus hair and hat shells) over the pixel grid `us` x `vs` (face units)."""
    rot = rot.astype(np.float32)
    shape = (len(vs), len(us))
    depth = np.full(shape, -np.inf, dtype=np.float32)
    part = np.zeros(shape, dtype=np.int16)
    owner = np.zeros(shape, dtype=np.int16)
    ells = list(face.ellipsoids)
    cranium = ells[0]
    cr = cranium.radii
    shells: list[Ellipsoid] = []
    if not s.identity.bald or s.hat:
        vol = s.identity.hair_volume
        shells.append(Ellipsoid(cranium.centre, (cr[0] + vol, cr[1] + vol, cr[2] + vol), _HAIR))
    if s.hat:
        shells.append(Ellipsoid(cranium.centre, (cr[0] + 0.16, cr[1] + 0.14, cr[2] + 0.16), _HAT))
    all_e = ells + shells
    for i, e in enumerate(all_e):
        if e.part == PART_EAR and float(rot[2, 0]) * np.sign(e.centre[0]) < -0.35:
            continue  # an ear turned away is hidden behind the cranium
        t, win = _cast(e, rot, us, vs)
        better = t > depth[win]
        if e.part in (_HAIR, _HAT):
            c, r = np.asarray(e.centre), np.asarray(e.radii)
            u, v = us[win[1]][None, :], vs[win[0]][:, None]
            tf = np.where(better, t, 0.0)
            qx = u * rot[0, 0] + v * rot[1, 0] + tf * rot[2, 0]
            qy = u * rot[0, 1] + v * rot[1, 1] + tf * rot[2, 1]
            qz = u * rot[0, 2] + v * rot[1, 2] + tf * rot[2, 2]
            uu, vv, ww = (qx - c[0]) / r[0], (qy - c[1]) / r[1], (qz - c[2]) / r[2]
            if e.part == _HAT:
                better &= _hat_region(vv, ww)
            else:
                better &= _shell_hair(uu, vv, ww, s)
                if s.hat:
                    better &= ~_hat_region(vv, ww)
        depth[win][better] = t[better]
        part[win][better] = e.part
        owner[win][better] = i
    hit = np.isfinite(depth)
    t = np.where(hit, depth, 0.0).astype(np.float32)
    u, v = us[None, :].astype(np.float32), vs[:, None].astype(np.float32)
    qx = u * rot[0, 0] + v * rot[1, 0] + t * rot[2, 0]
    qy = u * rot[0, 1] + v * rot[1, 1] + t * rot[2, 1]
    qz = u * rot[0, 2] + v * rot[1, 2] + t * rot[2, 2]
    centres = np.array([e.centre for e in all_e], dtype=np.float32)
    inv_r2 = (1.0 / np.array([e.radii for e in all_e]) ** 2).astype(np.float32)
    nx = (qx - centres[owner, 0]) * inv_r2[owner, 0]
    ny = (qy - centres[owner, 1]) * inv_r2[owner, 1]
    nz = (qz - centres[owner, 2]) * inv_r2[owner, 2]
    # Normal to camera coordinates (R n), then a wrapped Lambert term plus ambient and sky light.
    vx = rot[0, 0] * nx + rot[0, 1] * ny + rot[0, 2] * nz
    vy = rot[1, 0] * nx + rot[1, 1] * ny + rot[1, 2] * nz
    vz = rot[2, 0] * nx + rot[2, 1] * ny + rot[2, 2] * nz
    inv = 1.0 / (np.sqrt(vx * vx + vy * vy + vz * vz) + 1e-9)
    light = s.lighting
    lx, ly, lz = light.direction
    ndl = (vx * lx + vy * ly + vz * lz) * inv
    shade = light.ambient + light.diffuse * np.maximum((ndl + 0.15) * (1 / 1.15), 0.0) - 0.08 * vy * inv
    shade *= 0.75 + 0.25 * np.clip(vz * inv, 0.0, 1.0)
    return Surface(hit, part, (qx, qy, qz), shade, depth)


def _soften_creases(surf: Surface, sigma: float) -> None:
    """Blur the shading inside the head (normalised convolution) so the seams where two ellipsoids
    meet (cranium and jaw, face and nose) read as soft folds rather than hard edges."""
    if sigma < 0.3:
        return
    inside = surf.hit.astype(np.float32)
    num = cv2.GaussianBlur(np.where(surf.hit, surf.shade, 0.0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(inside, (0, 0), sigma)
    surf.shade = np.where(surf.hit, num / np.maximum(den, 1e-3), surf.shade).astype(np.float32)


def _gauss(qx: np.ndarray, qy: np.ndarray, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-(((qx - x0) / sx) ** 2) - ((qy - y0) / sy) ** 2)


def _albedo(face: Face3D, s: FaceSample, surf: Surface) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel colour before lighting (skin with sockets, cheeks and facial hair, hair, hat), and
    the mask of hair and hat pixels, which stay in front of brows and forehead lines."""
    ident = s.identity
    p = face.points
    qx, qy, qz = surf.q
    ax = np.abs(qx)
    skin = np.asarray(ident.skin, dtype=np.float32)
    front = np.clip(qz * 2.0, 0.0, 1.0)
    ey = float(p[np.concatenate([EYE_R, EYE_L]), 1].mean())
    ex = float(np.abs(p[EYE_L, 0].mean()))
    k6 = s.au["au06"] / 5.0
    tone = 1.0 - 0.3 * front * _gauss(ax, qy, ex, ey, 0.3, 0.2)  # eye sockets
    tone -= 0.2 * front * _gauss(qx, qy, 0.0, float(p[33, 1]) + 0.08, 0.18, 0.06)  # shadow under the nose
    tone -= 0.1 * front * _gauss(qx, qy, 0.0, float(p[57, 1]) + 0.1, 0.25, 0.06)  # under the lower lip
    tone += (0.07 + 0.12 * k6) * front * _gauss(ax, qy, 0.5, 0.42 - 0.12 * k6, 0.22, 0.16)  # cheeks
    col = tone[..., None] * skin
    if not ident.male:
        col += (front * _gauss(ax, qy, 0.55, 0.5, 0.2, 0.15))[..., None] * np.float32([18, -8, -6])
    skin_part = (surf.part == PART_CRANIUM) | (surf.part == PART_JAW)
    hair = np.asarray(ident.hair, dtype=np.float32)
    if ident.beard:
        line = 0.3 + 0.5 * np.clip((0.95 - ax) / 0.4, 0.0, 1.0)
        beard = skin_part & (qy > line) & (qz > -0.35)
        col = np.where(beard[..., None], hair * 0.8, col)
    if ident.mustache:
        top, bottom = float(p[33, 1]) + 0.04, float(p[51, 1]) + 0.03
        half = float(p[54, 0]) + 0.04
        r2 = (ax / half) ** 2
        mus = skin_part & (qy > top + 0.08 * r2) & (qy < bottom + 0.2 * r2) & (ax < half) & (qz > 0.2)
        col = np.where(mus[..., None], hair * 0.75, col)
    hair_on_head = (surf.part == PART_CRANIUM) & _head_hair(face, s, qx, qy, qz)
    front = (surf.part == _HAIR) | hair_on_head
    col = np.where(front[..., None], hair, col)
    if s.hat:
        hat = surf.part == _HAT
        col = np.where(hat[..., None], np.asarray(s.hat_color, dtype=np.float32), col)
        front |= hat
    ear = surf.part == PART_EAR
    col = np.where(ear[..., None], skin * 0.92, col)
    return col, front


def _head_hair(face: Face3D, s: FaceSample, qx: np.ndarray, qy: np.ndarray, qz: np.ndarray) -> np.ndarray:
    e = face.ellipsoids[0]
    c, r = e.centre, e.radii
    region = _shell_hair((qx - c[0]) / r[0], (qy - c[1]) / r[1], (qz - c[2]) / r[2], s)
    if s.hat:
        region |= _hat_region((qy - c[1]) / r[1], (qz - c[2]) / r[2])
    return region


def _body(
    img: np.ndarray, s: FaceSample, scale: float, centre: tuple[float, float], offset: tuple[int, int]
) -> None:
    """Shoulders, back hair and neck: they stay upright while the head turns (2-D polygons)."""
    cx, cy = centre
    ident = s.identity
    skin = np.asarray(ident.skin) * 0.72 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
    cloth = np.asarray(s.clothing) * (s.lighting.ambient + 0.6 * s.lighting.diffuse)
    shoulders = cv2.ellipse2Poly((0, 0), (230, 110), 0, 180, 360, 12)
    sh = np.asarray(shoulders, dtype=np.float64) / 100.0 * scale + np.array([cx, cy + 3.1 * scale])
    sh = np.vstack([sh, [[cx + 2.3 * scale, cy + 6 * scale], [cx - 2.3 * scale, cy + 6 * scale]]])
    cv2.fillPoly(img, [_pts(sh, offset)], cloth.tolist(), _AA, SHIFT)
    if ident.long_hair and not ident.bald:
        c, r = np.cos(np.radians(s.roll)), np.sin(np.radians(s.roll))
        local = np.array([[-1.05, -0.6], [1.05, -0.6], [1.3, 1.3], [1.15, 2.3], [-1.15, 2.3], [-1.3, 1.3]])
        rot = local @ np.array([[c, r], [-r, c]])
        hair = np.asarray(ident.hair) * 0.7 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
        cv2.fillPoly(img, [_pts(rot * scale + np.array(centre), offset)], hair.tolist(), _AA, SHIFT)
    neck = np.array([[-0.5, 0.6], [0.5, 0.6], [0.58, 2.6], [-0.58, 2.6]]) * scale + np.array(centre)
    cv2.fillPoly(img, [_pts(neck, offset)], skin.tolist(), _AA, SHIFT)


def _facing(rot: np.ndarray, normal: tuple[float, float, float]) -> float:
    n = np.asarray(normal, dtype=np.float64)
    return float((rot @ (n / np.linalg.norm(n)))[2])


def _shade_at(surf: Surface, xy: np.ndarray, offset: tuple[int, int]) -> float:
    h, w = surf.shade.shape
    x = min(max(int((xy[0] - offset[0]) / surf.step), 0), w - 1)
    y = min(max(int((xy[1] - offset[1]) / surf.step), 0), h - 1)
    return min(max(float(surf.shade[y, x]), 0.2), 1.3)


def _visible(surf: Surface, xy: np.ndarray, z: float, offset: tuple[int, int]) -> bool:
    """Whether a feature point at view depth z lies on the head and is not hidden behind it (nose)."""
    h, w = surf.depth.shape
    x, y = int((xy[0] - offset[0]) / surf.step), int((xy[1] - offset[1]) / surf.step)
    if not (0 <= x < w and 0 <= y < h):
        return False
    d = surf.depth[y, x]
    return bool(np.isfinite(d) and d <= z + 0.12)


def _blend_layer(roi: np.ndarray, layer: np.ndarray, mask: np.ndarray) -> None:
    a = mask.astype(np.float32)[..., None] * (1.0 / 255.0)
    roi[:] = (roi * (1.0 - a) + layer * a + 0.5).astype(np.uint8)


def _draw_eye(
    img: np.ndarray, lm: np.ndarray, idx: np.ndarray, s: FaceSample, k: float, scale: float, off
) -> None:
    """Sclera, iris and pupil clipped to the lid opening, then the lash line."""
    poly = _catmull_closed(lm[idx], 3)
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
    cv2.fillPoly(mask, [_pts(poly, sub_off)], 255, _AA, SHIFT)
    layer = np.empty_like(roi)
    layer[:] = np.clip(np.array([236.0, 232.0, 226.0]) * k, 0, 255)
    iris_c = centre + np.array([s.gaze[0], s.gaze[1]]) * width
    r_iris = max(0.28 * width, 0.055 * scale, 0.9)
    cv2.circle(
        layer,
        tuple(_pts(iris_c, sub_off)[0, 0]),
        round(r_iris * _ONE),
        (np.asarray(s.identity.iris) * k).tolist(),
        -1,
        _AA,
        SHIFT,
    )
    cv2.circle(
        layer,
        tuple(_pts(iris_c, sub_off)[0, 0]),
        round(max(0.45 * r_iris, 0.6) * _ONE),
        (12, 10, 10),
        -1,
        _AA,
        SHIFT,
    )
    _blend_layer(roi, layer, mask)
    lash = (np.asarray(s.identity.brow_color) * 0.4).tolist()
    cv2.polylines(img, [_pts(lm[idx[:4]], off)], False, lash, _thick(0.03 * scale), _AA, SHIFT)


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


def draw_person(img: np.ndarray, s: FaceSample, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """Draw the person of sample `s` into `img` (in place); returns the 68 landmarks (image px).

    `scale` is px per face unit, `centre` the image position of the head origin (continuous px).
    """
    h_img, w_img = img.shape[:2]
    face = s.face
    rot = rotation(s.yaw, s.pitch, s.roll)
    lm = project(face.points, rot, scale, centre)
    view_z = (face.points @ rot.T)[:, 2]
    reach = 1.95 * scale
    x0, y0 = max(int(centre[0] - reach), 0), max(int(centre[1] - reach), 0)
    x1, y1 = min(int(np.ceil(centre[0] + reach)), w_img), min(int(np.ceil(centre[1] + reach)), h_img)
    _body(img, s, scale, centre, (0, 0))
    if x1 <= x0 or y1 <= y0:
        return lm
    off = (x0, y0)
    roi = img[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    step = max(1, int(np.ceil(max(rw, rh) / MAX_GRID)))
    nx, ny = -(-rw // step), -(-rh // step)
    us = ((x0 + (np.arange(nx) + 0.5) * step - centre[0]) / scale).astype(np.float32)
    vs = ((y0 + (np.arange(ny) + 0.5) * step - centre[1]) / scale).astype(np.float32)
    surf = raycast(face, s, rot, us, vs)
    surf.step = step
    _soften_creases(surf, 0.06 * scale / step)
    albedo, front_hair = _albedo(face, s, surf)
    tint = np.asarray(s.lighting.tint, dtype=np.float32)
    head = np.clip(albedo * (surf.shade[..., None] * tint), 0, 255)
    cover = surf.hit.astype(np.float32)
    if step > 1:
        size = (nx * step, ny * step)
        head = cv2.resize(head, size, interpolation=cv2.INTER_LINEAR)[:rh, :rw]
        cover = cv2.resize(cover, size, interpolation=cv2.INTER_LINEAR)[:rh, :rw]
        hair_f = cv2.resize(front_hair.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        front_hair = hair_f[:rh, :rw] > 0.5
    cover = cv2.GaussianBlur(cover, (3, 3), 0.5)[..., None]
    roi[:] = (roi * (1.0 - cover) + head * cover + 0.5).astype(np.uint8)
    saved = roi[front_hair].copy() if front_hair.any() else None
    _features(roi, s, face, rot, lm, view_z, surf, scale, centre, off)
    if saved is not None:
        roi[front_hair] = saved
    _accessories(roi, s, face, rot, scale, centre, off, surf)
    return lm


def _features(
    img, s: FaceSample, face: Face3D, rot, lm, view_z, surf: Surface, scale: float, centre, off
) -> None:
    """Brows, expression lines, eyes, nostrils and lips through the projected landmarks."""
    ident = s.identity
    brow_col = np.asarray(ident.brow_color)
    for idx, sign, inner_last in ((np.arange(17, 22), -1.0, True), (np.arange(22, 27), 1.0, False)):
        f = _facing(rot, (0.45 * sign, -0.2, 0.87))
        if f > 0.1 and _visible(surf, lm[idx[2]], float(view_z[idx[2]]), off):
            k = _shade_at(surf, lm[idx[2]], off)
            poly = _brow(lm, idx, ident.brow_thickness * scale * (0.5 + 0.5 * f), inner_last)
            cv2.fillPoly(img, [_pts(poly, off)], (brow_col * min(k, 1.0)).tolist(), _AA, SHIFT)
    skin = np.asarray(ident.skin)
    k_mid = _shade_at(surf, lm[27], off)
    au = s.au
    if au["au04"] > 1.0:
        g = min((au["au04"] - 1.0) / 4.0, 1.0)
        col = (skin * k_mid * (1 - 0.35 * g)).tolist()
        for dx in (-0.06, 0.06):
            pts3 = np.array([[dx, -0.72, 0.95], [dx * 0.8, -0.5, 0.97]])
            pts3[:, 1] += face.points[21, 1] + 0.62
            cv2.polylines(
                img,
                [_pts(project(pts3, rot, scale, centre), off)],
                False,
                col,
                _thick(0.03 * scale),
                _AA,
                SHIFT,
            )
    raise_k = (au["au01"] + au["au02"]) / 10.0
    if raise_k > 0.25 and not ident.bangs:
        col = (skin * k_mid * (1 - 0.3 * raise_k)).tolist()
        for dy in (-0.95, -1.1):
            xs = np.linspace(-0.45, 0.45, 7)
            pts3 = np.stack([xs, dy + 0.08 * xs**2, np.full_like(xs, 0.9)], axis=1)
            cv2.polylines(
                img,
                [_pts(project(pts3, rot, scale, centre), off)],
                False,
                col,
                _thick(0.025 * scale),
                _AA,
                SHIFT,
            )
    for idx, sign in ((EYE_R, -1.0), (EYE_L, 1.0)):
        f = _facing(rot, (0.35 * sign, 0.0, 0.94))
        eye = lm[idx].mean(axis=0)  # not `centre`: the head's, which the smile folds below project about
        if f > 0.05 and _visible(surf, eye, float(view_z[idx].mean()), off):
            _draw_eye(img, lm, idx, s, 0.45 + 0.6 * _shade_at(surf, eye, off), scale, off)
    smile = (au["au12"] + 0.5 * au["au10"]) / 5.0
    if smile > 0.15:
        for sign, wing, corner in ((-1, 31, 48), (1, 35, 54)):
            f = _facing(rot, (0.5 * sign, 0.2, 0.85))
            a3 = face.points[wing] + np.array([0.09 * sign, -0.02, -0.05])
            c3 = face.points[corner] + np.array([0.1 * sign, 0.05, -0.04])
            m3 = (a3 + c3) / 2 + np.array([0.07 * sign, 0.0, 0.0])
            fold = np.stack([a3, m3, c3])
            line = project(fold, rot, scale, centre)
            fold_z = (fold @ rot.T)[:, 2]
            if f <= 0.15 or not all(_visible(surf, line[j], float(fold_z[j]), off) for j in range(3)):
                continue
            k = _shade_at(surf, line[1], off)
            cv2.polylines(
                img,
                [_pts(line, off)],
                False,
                (skin * k * (1 - 0.4 * min(smile, 1))).tolist(),
                _thick(0.035 * scale),
                _AA,
                SHIFT,
            )
    if _facing(rot, (0, 0.6, 0.8)) > 0.1:
        k = _shade_at(surf, lm[33], off)
        dark = (skin * 0.35 * k).tolist()
        for a_i, b_i in ((31, 32), (34, 35)):
            c = (lm[a_i] + lm[b_i]) / 2
            ax = max(0.045 * scale, 0.6)
            cv2.ellipse(
                img,
                tuple(_pts(c, off)[0, 0]),
                (round(ax * _ONE), round(ax * 0.6 * _ONE)),
                0,
                0,
                360,
                dark,
                -1,
                _AA,
                SHIFT,
            )
    _draw_mouth(img, s, lm, surf, scale, off)


def _draw_mouth(img, s: FaceSample, lm, surf: Surface, scale: float, off) -> None:
    """Lips (upper darker), the dark mouth opening with teeth, and the lip line."""
    k = _shade_at(surf, lm[62], off)
    lips = np.asarray(s.identity.lips) * k
    upper = np.vstack([lm[[48, 49, 50, 51, 52, 53, 54]], lm[[64, 63, 62, 61, 60]]])
    lower = np.vstack([lm[[54, 55, 56, 57, 58, 59, 48]], lm[[60, 67, 66, 65, 64]]])
    cv2.fillPoly(img, [_pts(lower, off)], np.clip(lips * 1.05, 0, 255).tolist(), _AA, SHIFT)
    cv2.fillPoly(img, [_pts(upper, off)], (lips * 0.85).tolist(), _AA, SHIFT)
    inner = lm[60:68]
    gap = float(np.mean(np.linalg.norm(lm[[65, 66, 67]] - lm[[63, 62, 61]], axis=1)))
    if gap > 0.6:
        cv2.fillPoly(img, [_pts(inner, off)], (40.0 * k, 12.0 * k, 18.0 * k), _AA, SHIFT)
        tooth = min(gap * 0.45, 0.09 * scale)
        down = np.array([0.0, tooth])
        teeth = np.vstack([lm[[60, 61, 62, 63, 64]], (lm[[64, 63, 62, 61, 60]] + down)])
        cv2.fillPoly(
            img, [_pts(teeth, off)], (np.array([228.0, 224.0, 212.0]) * min(k, 1.05)).tolist(), _AA, SHIFT
        )
    cv2.polylines(
        img,
        [_pts(lm[[60, 61, 62, 63, 64]], off)],
        False,
        (lips * 0.45).tolist(),
        _thick(0.025 * scale),
        _AA,
        SHIFT,
    )


def _accessories(img, s: FaceSample, face: Face3D, rot, scale: float, centre, off, surf: Surface) -> None:
    """Hat brim, earrings and glasses: drawn last, in front of hair and face."""
    p = face.points
    w = face.ellipsoids[0].radii[0] / 1.05
    if s.hat and s.hat_cap:
        th = np.linspace(0.15 * np.pi, 0.85 * np.pi, 12)
        rim = np.stack([1.12 * w * np.cos(th), np.full_like(th, -0.95), 1.12 * np.sin(th)], axis=1)
        peak = np.stack(
            [0.85 * w * np.cos(th[::-1]), np.full_like(th, -0.9), 1.12 + 0.5 * np.sin(th[::-1])], axis=1
        )
        brim = project(np.vstack([rim, peak]), rot, scale, centre)
        col = np.asarray(s.hat_color) * 0.7 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
        cv2.fillPoly(img, [_pts(brim, off)], col.tolist(), _AA, SHIFT)
    if s.earrings:
        gold = np.array([235.0, 195.0, 70.0]) * (s.lighting.ambient + 0.6 * s.lighting.diffuse)
        for sign in (-1.0, 1.0):
            if _facing(rot, (sign, 0.0, 0.3)) < -0.1:
                continue
            top = np.array([[sign * 1.0 * w, 0.3, -0.08], [sign * 1.0 * w, 0.55, -0.05]])
            q = project(top, rot, scale, centre)
            cv2.line(
                img,
                tuple(_pts(q[0], off)[0, 0]),
                tuple(_pts(q[1], off)[0, 0]),
                gold.tolist(),
                _thick(0.04 * scale),
                _AA,
                SHIFT,
            )
            cv2.circle(
                img,
                tuple(_pts(q[1], off)[0, 0]),
                round(max(0.14 * scale, 2.0) * _ONE),
                gold.tolist(),
                -1,
                _AA,
                SHIFT,
            )
    if s.eyeglasses:
        _glasses(img, s, p, rot, scale, centre, off, w)


def _glasses(img, s: FaceSample, p: np.ndarray, rot, scale: float, centre, off, w: float) -> None:
    """Two lens rims, a bridge and the temples on the sides that face the camera."""
    ident = s.identity
    th = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    exponent = 1.0 if ident.glasses_round else 0.4  # superellipse: 1 an ellipse, smaller squarer
    rim_x = np.sign(np.cos(th)) * np.abs(np.cos(th)) ** exponent
    rim_y = np.sign(np.sin(th)) * np.abs(np.sin(th)) ** exponent
    col = (np.asarray(ident.glasses_color) * (s.lighting.ambient + 0.6 * s.lighting.diffuse) + 10).tolist()
    width = max(2, round(0.075 * scale))
    rims = []
    for idx in (EYE_R, EYE_L):
        c = p[idx].mean(axis=0)
        half_w = 0.27 * (1.0 + ident.shape.eye_size * 0.5)
        ring = np.stack(
            [c[0] + half_w * rim_x, c[1] + 0.02 + 0.19 * rim_y, np.full_like(th, c[2] + 0.17)], axis=1
        )
        rims.append(ring)
    proj = [project(r, rot, scale, centre) for r in rims]
    if s.sunglasses:
        x0, y0 = np.floor(np.vstack(proj).min(axis=0) - off).astype(int).clip(0)
        x1, y1 = np.ceil(np.vstack(proj).max(axis=0) - off).astype(int) + 1
        roi = img[y0:y1, x0:x1]
        if roi.size:
            mask = np.zeros(roi.shape[:2], np.uint8)
            cv2.fillPoly(mask, [_pts(q, (off[0] + x0, off[1] + y0)) for q in proj], 200, _AA, SHIFT)
            _blend_layer(roi, np.full_like(roi, 25), mask)
    for q in proj:
        cv2.polylines(img, [_pts(q, off)], True, col, width, _AA, SHIFT)
    bridge = project(
        np.array([rims[0][0], [0.0, rims[0][0][1] - 0.05, rims[0][0][2] + 0.02], rims[1][10]]),
        rot,
        scale,
        centre,
    )
    cv2.polylines(img, [_pts(bridge, off)], False, col, width, _AA, SHIFT)
    for ring, sign, k in ((rims[0], -1.0, 10), (rims[1], 1.0, 0)):
        if _facing(rot, (sign, 0.0, 0.15)) > 0.0:
            temple = np.array([ring[k], [sign * 1.0 * w, ring[k][1] + 0.05, -0.1]])
            cv2.polylines(
                img, [_pts(project(temple, rot, scale, centre), off)], False, col, width, _AA, SHIFT
            )
