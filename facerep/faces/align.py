"""5-point similarity alignment to the ArcFace 112x112 template.

ArcFace (Deng et al., CVPR 2019, section 4.1) and insightface normalise a face by the similarity
transform (rotation, uniform scale, translation) that maps its five landmarks (left eye, right eye,
nose tip, left and right mouth corner, image-left to image-right) onto a fixed template, estimated in
the least-squares sense of Umeyama (PAMI 1991, eq. 40-43). The curate stage embeds aligned faces
(ArcFace or dlib) and the recognition task trains on them.

insightface's `face_align.norm_crop` does the same through scikit-image's `SimilarityTransform`; it is
reimplemented here in a few lines of numpy because scikit-image is only a development dependency and
its estimation API is changing (`estimate` -> `from_estimate`). The tests check both agree.
"""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def arcface_template(size: int = 112) -> np.ndarray:
    """The ArcFace template scaled to a `size` x `size` output (insightface's convention for 112k)."""
    return ARCFACE_TEMPLATE_112 * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix minimising sum ||s R src_i + t - dst_i||^2 (Umeyama 1991).

    The reflection guard (eq. 43) keeps R a proper rotation, so a mirrored landmark order is fitted
    as well as a rotation allows instead of silently flipping the face."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_s = (sc**2).sum() / len(src)
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, trans[:, None]])


def arcface_matrix(landmarks5: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 matrix taking image pixels to the aligned `size` x `size` face."""
    return similarity_transform(np.asarray(landmarks5).reshape(5, 2), arcface_template(size))


def align_to_arcface(image: np.ndarray, landmarks5: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp `image` (H, W[, C]) so its five landmarks (pixels, (5, 2) or 10 floats) land on the ArcFace
    template: a `size` x `size` aligned face, black outside the source (as insightface's norm_crop)."""
    matrix = arcface_matrix(landmarks5, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
