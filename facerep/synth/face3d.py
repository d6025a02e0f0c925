"""The SynthFaces 3-D face model: a 68-point template, identity deformation, action units, pose.

Coordinates ("face units"): x to the image right, y down, z toward the camera; the head centre is
the origin and the jaw landmarks 0 and 16 sit at x = -1 and +1 in the mean face. Landmarks follow
the 300W/iBUG 68-point order (Sagonas et al., 300 Faces in-the-Wild, 2013). The head surface is a
union of ellipsoids (cranium, jaw, nose, ears) that the renderer ray-casts, so the shading, the
silhouette and the landmark labels come from one geometry.

Action units follow FACS (Ekman & Friesen, 1978) as displacements of the landmarks that each
muscle moves, linear in intensity 0-5 (the A-E scale mapped to 1-5). The camera is weak-perspective
(orthographic plus scale), which keeps the horizontal mirror exact: mirroring an image equals
rendering the face with yaw and roll negated (see `mirror_pose`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The OpenFace/dlib mean 68-point face (x, y in [0, 1]), symmetrised below.
_TEMPLATE_2D = np.array(
    [
        (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943),
        (0.0967927109165, 0.575648016728), (0.122141515615, 0.691921601066),
        (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
        (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149),
        (0.531777802068, 1.06080371126), (0.641296298053, 1.03981924107),
        (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
        (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421),
        (0.96111933829, 0.562238253072), (0.970579841181, 0.441758925744),
        (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
        (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323),
        (0.367460241458, 0.203582210627), (0.4392945113, 0.233135599851),
        (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
        (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114),
        (0.8707571886, 0.235293377042), (0.51534533827, 0.31863546193),
        (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
        (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668),
        (0.475501237769, 0.62076344024), (0.520712933176, 0.634268222208),
        (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
        (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002),
        (0.355749724218, 0.303020650651), (0.403718978315, 0.33867711083),
        (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
        (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267),
        (0.73597236153, 0.294721285802), (0.782865376271, 0.321305281656),
        (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
        (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073),
        (0.477677654595, 0.706835892494), (0.522732900812, 0.717092275768),
        (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
        (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972),
        (0.576410514055, 0.835436670169), (0.525398405766, 0.841706377792),
        (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
        (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612),
        (0.523389793327, 0.748924302636), (0.571057789237, 0.74332894691),
        (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
        (0.5240106503, 0.783370783245), (0.477561227414, 0.778476346951),
    ]
)  # fmt: skip

#: Index of each landmark's mirror image (300W convention): landmarks[FLIP_68] of a mirrored face.
FLIP_68 = np.concatenate(
    [
        np.arange(16, -1, -1),  # jaw
        np.arange(26, 16, -1),  # brows
        [27, 28, 29, 30, 35, 34, 33, 32, 31],  # nose
        [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40],  # eyes
        [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55],  # outer lips
        [64, 63, 62, 61, 60, 67, 66, 65],  # inner lips
    ]
)

JAW = np.arange(0, 17)
BROW_R, BROW_L = np.arange(17, 22), np.arange(22, 27)  # image-left brow first (subject's right)
NOSE_BRIDGE, NOSTRILS = np.arange(27, 31), np.arange(31, 36)
EYE_R, EYE_L = np.arange(36, 42), np.arange(42, 48)
OUTER_LIP, INNER_LIP = np.arange(48, 60), np.arange(60, 68)

#: Action units with a geometric effect. The first eight are labelled; AU5, AU10, AU20 and AU23 shape
#: the expression prototypes (EMFACS) but are not written as labels.
LABELLED_AUS = ("au01", "au02", "au04", "au06", "au07", "au12", "au15", "au26")
LATENT_AUS = ("au05", "au10", "au20", "au23")
ALL_AUS = LABELLED_AUS + LATENT_AUS


def _symmetric_template() -> np.ndarray:
    """The mean face with x in [-1, 1] at the jaw ends, made exactly left-right symmetric."""
    p = _TEMPLATE_2D.copy()
    cx = (p[0, 0] + p[16, 0]) / 2
    scale = 2.0 / (p[16, 0] - p[0, 0])
    xy = np.stack([(p[:, 0] - cx) * scale, (p[:, 1] - 0.45) * scale], axis=1)
    mirrored = xy[FLIP_68] * np.array([-1.0, 1.0])
    sym = (xy + mirrored) / 2
    # A closed neutral mouth: inner upper and lower lip lines coincide.
    for up, low in ((61, 67), (62, 66), (63, 65)):
        sym[[up, low], 1] = sym[[up, low], 1].mean()
    # Slightly larger eyes than the mean shape: they must stay readable at 64 px.
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        centre = sym[eye].mean(axis=0)
        sym[eye] = centre + (sym[eye] - centre) * np.array([1.1, 1.3])
    return sym


TEMPLATE_XY = _symmetric_template()


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid in head coordinates; `part` names what it is (for texturing)."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    part: int


PART_CRANIUM, PART_JAW, PART_NOSE, PART_EAR = 1, 2, 3, 4


@dataclass(frozen=True)
class FaceShape:
    """Identity shape parameters, each a small signed offset from the mean face (0 = mean)."""

    face_width: float = 0.0
    jaw_width: float = 0.0
    chin_length: float = 0.0
    cranium_height: float = 0.0
    eye_spacing: float = 0.0
    eye_size: float = 0.0
    eye_height: float = 0.0
    brow_height: float = 0.0
    brow_arch: float = 0.0
    nose_length: float = 0.0
    nose_width: float = 0.0
    nose_depth: float = 0.0
    mouth_width: float = 0.0
    mouth_height: float = 0.0
    lip_thickness: float = 0.0


@dataclass
class Face3D:
    """A posed-ready face: 68 landmarks and the head ellipsoids, both in head coordinates."""

    points: np.ndarray  # (68, 3)
    ellipsoids: list[Ellipsoid]


def _ellipsoid_front_z(e: Ellipsoid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """z of the ellipsoid's camera-facing surface above (x, y) (its centre z where it misses)."""
    cx, cy, cz = e.centre
    rx, ry, rz = e.radii
    inside = 1.0 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2
    return cz + rz * np.sqrt(np.clip(inside, 0.0, None))


def head_ellipsoids(shape: FaceShape, jaw_drop: float) -> list[Ellipsoid]:
    """Cranium, jaw (lowered by `jaw_drop` face units for AU26), nose and ears of one identity."""
    w = 1.0 + shape.face_width
    jw = w * (1.0 + shape.jaw_width)
    chin = 1.0 + shape.chin_length
    nose_len = 1.0 + shape.nose_length
    nose_y = 0.1 + 0.25 * shape.nose_length
    return [
        Ellipsoid((0.0, -0.38, -0.08), (1.05 * w, 1.45 * (1 + shape.cranium_height), 1.06), PART_CRANIUM),
        Ellipsoid(
            (0.0, 0.45 + 0.5 * jaw_drop, -0.02), (0.88 * jw, 0.95 * chin + 0.5 * jaw_drop, 0.86), PART_JAW
        ),
        Ellipsoid(
            (0.0, nose_y, 0.86),
            (0.17 * (1 + shape.nose_width), 0.31 * nose_len, 0.34 * (1 + shape.nose_depth)),
            PART_NOSE,
        ),
        Ellipsoid((-1.0 * w, 0.02, -0.12), (0.1, 0.3, 0.2), PART_EAR),
        Ellipsoid((1.0 * w, 0.02, -0.12), (0.1, 0.3, 0.2), PART_EAR),
    ]


def _shape_landmarks(shape: FaceShape) -> np.ndarray:
    """The identity's neutral 68 landmarks in x, y (face units)."""
    p = TEMPLATE_XY.copy()
    x, y = p[:, 0], p[:, 1]
    w = 1.0 + shape.face_width
    lower = np.clip((y - 0.2) / 1.2, 0.0, 1.0)
    x *= w * (1.0 + shape.jaw_width * lower)
    below = y > 0.6
    y[below] = 0.6 + (y[below] - 0.6) * (1.0 + shape.chin_length)
    for eye, brow, side in ((EYE_R, BROW_R, -1.0), (EYE_L, BROW_L, 1.0)):
        centre = p[eye].mean(axis=0)
        p[eye] = centre + (p[eye] - centre) * (1.0 + shape.eye_size)
        p[eye, 0] += side * shape.eye_spacing
        p[eye, 1] += shape.eye_height
        p[brow, 0] += side * shape.eye_spacing
        p[brow, 1] += shape.eye_height - shape.brow_height
        p[brow[1:4], 1] -= shape.brow_arch * np.array([0.5, 1.0, 0.6])[:: int(side)]
    nose = np.concatenate([NOSE_BRIDGE, NOSTRILS])
    p[nose, 1] = -0.3 + (p[nose, 1] + 0.3) * (1.0 + shape.nose_length)
    p[NOSTRILS, 0] *= 1.0 + shape.nose_width
    mouth = np.concatenate([OUTER_LIP, INNER_LIP])
    p[mouth, 0] *= 1.0 + shape.mouth_width
    p[mouth, 1] += shape.mouth_height
    lip_mid = (p[62, 1] + p[66, 1]) / 2
    p[OUTER_LIP, 1] = lip_mid + (p[OUTER_LIP, 1] - lip_mid) * (1.0 + shape.lip_thickness)
    return p


def _apply_aus(p: np.ndarray, au: dict[str, float]) -> np.ndarray:
    """Move the neutral landmarks (x, y) by each action unit's FACS displacement (intensity 0-5)."""
    k = {name: min(max(float(au.get(name, 0.0)), 0.0), 5.0) / 5.0 for name in ALL_AUS}
    p = p.copy()
    side = np.sign(p[:, 0])
    # AU1 inner brow raiser, AU2 outer brow raiser, AU4 brow lowerer (corrugator: down and together).
    inner = np.array([0.2, 0.45, 0.7, 0.9, 1.0])
    for brow, w_in in ((BROW_R, inner), (BROW_L, inner[::-1])):
        p[brow, 1] -= 0.2 * k["au01"] * w_in + 0.22 * k["au02"] * (1.0 - w_in + 0.1)
        p[brow, 1] += 0.16 * k["au04"] * (0.4 + 0.6 * w_in)
        p[brow, 0] -= side[brow] * 0.1 * k["au04"] * w_in
    # AU5 upper lid raiser, AU7 lid tightener, AU6 cheek raiser (lower lid pushed up).
    for upper, lower in ((np.array([37, 38]), np.array([40, 41])), (np.array([43, 44]), np.array([46, 47]))):
        p[upper, 1] += -0.07 * k["au05"] + 0.05 * k["au07"] + 0.015 * k["au06"]
        p[lower, 1] -= 0.05 * k["au07"] + 0.06 * k["au06"]
    # Lip corners: AU12 up and out, AU15 down, AU20 out; AU23 narrows and thins the lips.
    corners = np.array([48, 54, 60, 64])
    p[corners, 0] += side[corners] * (0.16 * k["au12"] + 0.14 * k["au20"] - 0.06 * k["au23"])
    p[corners, 1] += -0.2 * k["au12"] + 0.2 * k["au15"] + 0.04 * k["au20"]
    near = np.array([49, 53, 59, 55, 61, 63, 65, 67])
    p[near, 0] += side[near] * 0.06 * k["au12"]
    p[near, 1] += -0.07 * k["au12"] + 0.08 * k["au15"]
    # Smiles curve the lower lip down at the middle relative to the corners and part the lips.
    p[[56, 57, 58], 1] += 0.04 * k["au12"]
    p[[65, 66, 67], 1] += 0.05 * k["au12"]
    # AU10 raises the upper lip; AU23 presses the outer lip line toward the inner one.
    p[[49, 50, 51, 52, 53, 61, 62, 63], 1] -= 0.09 * k["au10"]
    p[[49, 50, 51, 52, 53], 1] += 0.05 * k["au23"]
    p[[55, 56, 57, 58, 59], 1] -= 0.05 * k["au23"]
    # AU26 jaw drop: lower lip and chin move down, the jaw contour stretches with them.
    drop = jaw_drop_units(k["au26"])
    p[[55, 56, 57, 58, 59, 65, 66, 67], 1] += drop
    lower_jaw = np.clip((p[JAW, 1] - 0.3) / 1.1, 0.0, 1.0)
    p[JAW, 1] += drop * lower_jaw
    return p


def jaw_drop_units(k26: float) -> float:
    """Chin and lower-lip displacement (face units) for AU26 at normalised intensity k26 in [0, 1]."""
    return 0.42 * k26


def build_face(shape: FaceShape, au: dict[str, float]) -> Face3D:
    """The 3-D landmarks and head surface of one identity showing the given action units."""
    xy = _apply_aus(_shape_landmarks(shape), au)
    ells = head_ellipsoids(shape, jaw_drop_units(min(max(float(au.get("au26", 0.0)), 0.0), 5.0) / 5.0))
    x, y = xy[:, 0], xy[:, 1]
    z = np.maximum(_ellipsoid_front_z(ells[0], x, y), _ellipsoid_front_z(ells[1], x, y))
    z[JAW] = np.minimum(z[JAW], 0.25 + 0.5 * np.clip(y[JAW] - 0.2, 0, None))
    nose_bump = np.array([0.02, 0.12, 0.22, 0.33, 0.08, 0.16, 0.2, 0.16, 0.08])
    z[np.concatenate([NOSE_BRIDGE, NOSTRILS])] += nose_bump * (1.0 + shape.nose_depth)
    z[np.concatenate([EYE_R, EYE_L])] -= 0.06
    z[OUTER_LIP] += 0.03
    z[[50, 51, 52, 56, 57, 58]] += 0.03
    return Face3D(points=np.stack([x, y, z], axis=1), ellipsoids=ells)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head-to-camera rotation R = Rz(roll) Rx(pitch) Ry(yaw), angles in degrees.

    Positive yaw turns the nose toward the image right, positive pitch raises the chin (nose moves
    up), positive roll tilts the head clockwise in the image (y points down).
    """
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def project(points: np.ndarray, rot: np.ndarray, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """Weak-perspective projection of head-coordinate points to continuous pixel coordinates.

    Continuous coordinates put pixel i's centre at i + 0.5, so an image of width S spans [0, S] and
    the horizontal mirror is x -> S - x.
    """
    view = points @ rot.T
    return view[:, :2] * scale + np.asarray(centre)


def mirror_pose(yaw: float, pitch: float, roll: float) -> tuple[float, float, float]:
    """The pose of the horizontally mirrored face (F R F with F = diag(-1, 1, 1))."""
    return -yaw, pitch, -roll


def landmarks5(lm68: np.ndarray) -> np.ndarray:
    """RetinaFace/ArcFace 5 points from 68: eye centres (image-left first), nose tip, mouth corners."""
    return np.stack([lm68[EYE_R].mean(axis=0), lm68[EYE_L].mean(axis=0), lm68[30], lm68[48], lm68[54]])


#: RetinaFace-style box, calibrated on RetinaFace MobileNet-0.25 detections of SynthFaces scenes: the
#: top is the brow line raised by `BOX_TOP` of the brow-chin height D, the bottom `BOX_BOTTOM` * D
#: above the lowest jaw point, and each side `BOX_SIDE` of the jaw width inside the jaw extremes.
BOX_TOP, BOX_BOTTOM, BOX_SIDE = 0.22, 0.06, 0.01


def face_box(lm68: np.ndarray) -> np.ndarray:
    """The RetinaFace/WIDER FACE-style box x1, y1, x2, y2 of 68 landmarks: cheek to cheek, forehead
    to chin, in the convention RetinaFace's own boxes follow (so IoU 0.5 against its detections is
    a fair test). Used for scene ground truth, `face_box` labels and placing face crops."""
    x1, x2 = float(lm68[JAW, 0].min()), float(lm68[JAW, 0].max())
    brow = float(lm68[17:27, 1].min())
    chin = max(float(lm68[JAW, 1].max()), float(lm68[57, 1]))
    d = chin - brow
    inset = BOX_SIDE * (x2 - x1)
    return np.array([x1 + inset, brow - BOX_TOP * d, x2 - inset, chin - BOX_BOTTOM * d])
