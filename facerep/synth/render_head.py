"""The SynthFaces head: a union of ellipsoids ray-cast per pixel and shaded, with the regions painted
on its surface, and the upright body under it.

The head surface (cranium, jaw, nose, ears, hair and hat shells) is a union of ellipsoids
(`facerep.synth.face3d`) ray-cast per pixel under a weak-perspective camera, so the head gets real
3-D shading, eye sockets and a shaded nose: what makes a procedural face detectable by a real face
detector (OFFLINE.md). Regions painted on the surface (hair, beard, moustache, sockets, cheeks) are
defined in head coordinates, so they turn with the head.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from facerep.synth.face3d import EYE_L, EYE_R, PART_CRANIUM, PART_EAR, PART_JAW, Ellipsoid, Face3D
from facerep.synth.render_draw import AA, SHIFT, Offset, Point, View, pts
from facerep.synth.sample import FaceSample

HAIR, HAT = 10, 11  # pseudo parts of the shells
#: Largest ray-casting grid side: bigger heads are cast on a coarser grid and upsampled (the surface
#: is smooth; edges and features are still drawn at full resolution).
MAX_GRID = 120


@dataclass(frozen=True)
class Surface:
    """The ray-cast head over a pixel window: which part each pixel shows, where, and its shading."""

    hit: np.ndarray  # bool (h, w)
    part: np.ndarray  # int (h, w)
    q: tuple[np.ndarray, np.ndarray, np.ndarray]  # head coordinates of the visible point
    shade: np.ndarray  # float (h, w)
    depth: np.ndarray  # view z of the visible point (-inf where nothing)
    step: int  # image pixels per grid cell (the head is ray-cast on a coarser grid when large)

    def shade_at(self, xy: np.ndarray, offset: Offset) -> float:
        """The head's shading under image point `xy`, clamped so features never go black or glare."""
        h, w = self.shade.shape
        x = min(max(int((xy[0] - offset[0]) / self.step), 0), w - 1)
        y = min(max(int((xy[1] - offset[1]) / self.step), 0), h - 1)
        return min(max(float(self.shade[y, x]), 0.2), 1.3)

    def visible(self, xy: np.ndarray, z: float, offset: Offset) -> bool:
        """Whether a feature point at view depth z lies on the head and is not hidden behind it (nose)."""
        h, w = self.depth.shape
        x, y = int((xy[0] - offset[0]) / self.step), int((xy[1] - offset[1]) / self.step)
        if not (0 <= x < w and 0 <= y < h):
            return False
        d = self.depth[y, x]
        return bool(np.isfinite(d) and d <= z + 0.12)


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
    """The hat's region on the unit cranium sphere: above a band that dips toward the back."""
    return v < -0.36 + 0.15 * np.clip(-w, 0.0, 1.0)


def raycast(
    face: Face3D, s: FaceSample, rot: np.ndarray, us: np.ndarray, vs: np.ndarray, step: int = 1
) -> Surface:
    """Ray-cast the head (plus hair and hat shells) over the pixel grid `us` x `vs` (face units),
    whose cells are `step` image pixels wide."""
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
        shells.append(Ellipsoid(cranium.centre, (cr[0] + vol, cr[1] + vol, cr[2] + vol), HAIR))
    if s.hat:
        shells.append(Ellipsoid(cranium.centre, (cr[0] + 0.16, cr[1] + 0.14, cr[2] + 0.16), HAT))
    all_e = ells + shells
    for i, e in enumerate(all_e):
        if e.part == PART_EAR and float(rot[2, 0]) * np.sign(e.centre[0]) < -0.35:
            continue  # an ear turned away is hidden behind the cranium
        t, win = _cast(e, rot, us, vs)
        better = t > depth[win]
        if e.part in (HAIR, HAT):
            c, r = np.asarray(e.centre), np.asarray(e.radii)
            u, v = us[win[1]][None, :], vs[win[0]][:, None]
            tf = np.where(better, t, 0.0)
            qx = u * rot[0, 0] + v * rot[1, 0] + tf * rot[2, 0]
            qy = u * rot[0, 1] + v * rot[1, 1] + tf * rot[2, 1]
            qz = u * rot[0, 2] + v * rot[1, 2] + tf * rot[2, 2]
            uu, vv, ww = (qx - c[0]) / r[0], (qy - c[1]) / r[1], (qz - c[2]) / r[2]
            if e.part == HAT:
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
    return Surface(hit, part, (qx, qy, qz), shade, depth, step)


def _softened_shade(surf: Surface, sigma: float) -> np.ndarray:
    """The shading blurred inside the head (normalised convolution), so the seams where two
    ellipsoids meet (cranium and jaw, face and nose) read as soft folds rather than hard edges."""
    if sigma < 0.3:
        return surf.shade
    inside = surf.hit.astype(np.float32)
    num = cv2.GaussianBlur(np.where(surf.hit, surf.shade, 0.0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(inside, (0, 0), sigma)
    return np.where(surf.hit, num / np.maximum(den, 1e-3), surf.shade).astype(np.float32)


def _gauss(qx: np.ndarray, qy: np.ndarray, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
    """An axis-aligned Gaussian bump on the head's surface (soft painted regions)."""
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
    front = (surf.part == HAIR) | hair_on_head
    col = np.where(front[..., None], hair, col)
    if s.hat:
        hat = surf.part == HAT
        col = np.where(hat[..., None], np.asarray(s.hat_color, dtype=np.float32), col)
        front |= hat
    ear = surf.part == PART_EAR
    col = np.where(ear[..., None], skin * 0.92, col)
    return col, front


def _head_hair(face: Face3D, s: FaceSample, qx: np.ndarray, qy: np.ndarray, qz: np.ndarray) -> np.ndarray:
    """The cranium pixels inside the hair (and hat) region: painted as hair where the thin shell over
    the cranium does not cover them."""
    e = face.ellipsoids[0]
    c, r = e.centre, e.radii
    region = _shell_hair((qx - c[0]) / r[0], (qy - c[1]) / r[1], (qz - c[2]) / r[2], s)
    if s.hat:
        region |= _hat_region((qy - c[1]) / r[1], (qz - c[2]) / r[2])
    return region


def draw_body(img: np.ndarray, s: FaceSample, scale: float, centre: Point) -> None:
    """Shoulders, back hair and neck: they stay upright while the head turns (2-D polygons)."""
    cx, cy = centre
    ident = s.identity
    skin = np.asarray(ident.skin) * 0.72 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
    cloth = np.asarray(s.clothing) * (s.lighting.ambient + 0.6 * s.lighting.diffuse)
    shoulders = cv2.ellipse2Poly((0, 0), (230, 110), 0, 180, 360, 12)
    sh = np.asarray(shoulders, dtype=np.float64) / 100.0 * scale + np.array([cx, cy + 3.1 * scale])
    sh = np.vstack([sh, [[cx + 2.3 * scale, cy + 6 * scale], [cx - 2.3 * scale, cy + 6 * scale]]])
    cv2.fillPoly(img, [pts(sh)], cloth.tolist(), AA, SHIFT)
    if ident.long_hair and not ident.bald:
        c, r = np.cos(np.radians(s.roll)), np.sin(np.radians(s.roll))
        local = np.array([[-1.05, -0.6], [1.05, -0.6], [1.3, 1.3], [1.15, 2.3], [-1.15, 2.3], [-1.3, 1.3]])
        rot = local @ np.array([[c, r], [-r, c]])
        hair = np.asarray(ident.hair) * 0.7 * (s.lighting.ambient + 0.5 * s.lighting.diffuse)
        cv2.fillPoly(img, [pts(rot * scale + np.array(centre))], hair.tolist(), AA, SHIFT)
    neck = np.array([[-0.5, 0.6], [0.5, 0.6], [0.58, 2.6], [-0.58, 2.6]]) * scale + np.array(centre)
    cv2.fillPoly(img, [pts(neck)], skin.tolist(), AA, SHIFT)


def paint_head(roi: np.ndarray, s: FaceSample, view: View) -> tuple[Surface, np.ndarray]:
    """Ray-cast, colour and light the head into `roi` (the image window at `view.off`), blended at its
    soft silhouette; returns the surface (for the features drawn on it) and the mask of hair and hat
    pixels, which the caller keeps in front of the features."""
    x0, y0 = view.off
    rh, rw = roi.shape[:2]
    step = max(1, int(np.ceil(max(rw, rh) / MAX_GRID)))
    nx, ny = -(-rw // step), -(-rh // step)
    us = ((x0 + (np.arange(nx) + 0.5) * step - view.centre[0]) / view.scale).astype(np.float32)
    vs = ((y0 + (np.arange(ny) + 0.5) * step - view.centre[1]) / view.scale).astype(np.float32)
    surf = raycast(s.face, s, view.rot, us, vs, step)
    surf = dataclasses.replace(surf, shade=_softened_shade(surf, 0.06 * view.scale / step))
    albedo, front_hair = _albedo(s.face, s, surf)
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
    return surf, front_hair
