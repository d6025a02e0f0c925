"""The licence gate of the shard stage: only faces whose licence is allowed reach a shard.

The gate does not trust any one table: a face passes only when its licence in faces.parquet and its
source image's licence in the harvest manifest are both in `shard.licenses` and the manifest marks
the image `ok`. A hand edit of one table (say, a manifest row flipped to a free licence or to `ok`)
therefore cannot let an all-rights-reserved image through. Names are compared after normalising
case, hyphens and underscores ("CC-BY-4.0" == "cc by 4.0").
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def normalise(name: object) -> str:
    """Canonical spelling of a licence name for comparison ('' for a missing one)."""
    if name is None or (isinstance(name, float) and name != name):
        return ""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def allowed_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(normalise(n) for n in names)


def licence_reason(
    face_licence: object, image_licence: object, image_status: object, allowed: frozenset[str]
) -> str:
    """Why a face may not be sharded ('' when it may)."""
    if image_status is None:
        return "not_in_manifest"
    if str(image_status) != "ok":
        return "image_not_ok"
    if normalise(face_licence) not in allowed or normalise(image_licence) not in allowed:
        return "licence_not_allowed"
    if normalise(face_licence) != normalise(image_licence):
        return "licence_mismatch"
    return ""
