"""Drawing one SynthFaces person: a ray-cast, shaded 3-D head with drawn facial features.

`draw_person` is the renderer's one entry point; it puts together, in this order, the upright body,
the ray-cast head (`render_head`: geometry, shading and the regions painted on the surface), the
facial features (`render_features`) and the accessories (`render_accessories`), all sharing the
sub-pixel drawing of `render_draw`. Eyes, brows, lips, glasses and earrings are anti-aliased OpenCV
polygons through the projected 3-D landmarks, so labels and pixels agree.

Everything is vectorised numpy over the head's bounding box plus a few dozen OpenCV calls, which
keeps a 64 px face at a few milliseconds on one core.
"""

from __future__ import annotations

import numpy as np

from facerep.synth.face3d import project, rotation
from facerep.synth.render_accessories import draw_accessories
from facerep.synth.render_draw import Point, View
from facerep.synth.render_features import draw_features
from facerep.synth.render_head import draw_body, paint_head
from facerep.synth.sample import FaceSample


def draw_person(img: np.ndarray, s: FaceSample, scale: float, centre: Point) -> np.ndarray:
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
    draw_body(img, s, scale, centre)
    if x1 <= x0 or y1 <= y0:
        return lm
    view = View(rot, scale, centre, (x0, y0))
    roi = img[y0:y1, x0:x1]
    surf, front_hair = paint_head(roi, s, view)
    saved = roi[front_hair].copy() if front_hair.any() else None
    draw_features(roi, s, view, lm, view_z, surf)
    if saved is not None:
        roi[front_hair] = saved
    draw_accessories(roi, s, view)
    return lm
