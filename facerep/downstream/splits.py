"""Fixed few-shot subsets (Bulat et al. 3.4 and A.3; DESIGN section 3 contract).

A subset is a prefix of one seeded permutation of the training items, so the regimes nest
(2% inside 10% inside 100%) and, once saved with its id, every later experiment reuses the same
images. Items are drawn without looking at the labels (no class balancing). For face recognition
(`identities` given) the very-low regime keeps at least a quarter of the identities: the permutation
starts with one item of each of ceil(U/4) randomly chosen identities, continues with the other items
of those identities up to the very-low size, then the rest at random; a fraction at or below
`VERY_LOW` takes at least that quarter, even when that is more than `fraction * n` items.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from facerep.errors import InputError
from facerep.io import write_json

#: The very-low data regime of Bulat et al. A.3, where the identity rule applies.
VERY_LOW = 0.02


def _size(n: int, fraction: float) -> int:
    return max(1, min(n, round(fraction * n)))


def _permutation(n: int, seed: int, identities: np.ndarray | None) -> tuple[np.ndarray, int]:
    """The seeded order of all items, and the least prefix length of the very-low regime."""
    rng = np.random.default_rng(seed)
    if identities is None:
        return rng.permutation(n), 1
    ids = np.asarray(identities)
    unique = np.unique(ids)
    quarter = math.ceil(len(unique) / 4)
    chosen = rng.permutation(unique)[:quarter]
    shuffled = rng.permutation(n)
    first: dict[int, int] = {}
    for i in shuffled:
        if ids[i] in chosen and ids[i] not in first:
            first[ids[i]] = int(i)
    head = np.array([first[c] for c in chosen], dtype=np.int64)
    rest = shuffled[~np.isin(shuffled, head)]
    in_chosen = np.isin(ids[rest], chosen)
    fill = _size(n, VERY_LOW) - len(head)
    same_ids = rest[in_chosen][: max(0, fill)]
    tail = rest[~np.isin(rest, same_ids)]
    return np.concatenate([head, same_ids, tail]), len(head)


def few_shot_subset(n: int, fraction: float, seed: int, identities: np.ndarray | None = None) -> np.ndarray:
    """Indices (sorted) of the `fraction` subset of `n` items for `seed`; nested across fractions."""
    if not 0 < fraction <= 1:
        raise InputError(f"few_shot_subset: fraction {fraction} is not in (0, 1]")
    order, least = _permutation(n, seed, identities)
    size = _size(n, fraction)
    if identities is not None and fraction <= VERY_LOW:
        size = max(size, least)
    return np.sort(order[:size])


def validation_part(indices: np.ndarray, val_fraction: float, min_val: int, seed: int) -> np.ndarray:
    """A seeded part of a training subset held out for the hyper-parameter search (never from test)."""
    rng = np.random.default_rng(seed + 7919)
    k = min(len(indices) - 1, max(min_val, round(val_fraction * len(indices))))
    return np.sort(rng.permutation(indices)[: max(k, 0)])


def subset_id(keys: list[str]) -> str:
    """A content id of a subset: the first 12 hex digits of sha256 over its sorted item keys."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:12]


def saved_subset(
    folder: Path,
    keys: list[str],
    fraction: float,
    seed: int,
    identities: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """The subset's indices into `keys` and its id, read from `folder` if saved there, else drawn and saved.

    A saved subset whose items are no longer all present is an error: silently drawing a new one would
    break comparability with every experiment that used the old one.
    """
    tag = "ids" if identities is not None else "items"
    path = folder / f"{tag}_frac{fraction:g}_seed{seed}.json"
    position = {k: i for i, k in enumerate(keys)}
    if path.is_file():
        doc = json.loads(path.read_text())
        missing = [k for k in doc["keys"] if k not in position]
        if missing:
            raise InputError(f"{path}: saved subset names {len(missing)} items absent from the dataset")
        return np.sort(np.array([position[k] for k in doc["keys"]], dtype=np.int64)), doc["id"]
    idx = few_shot_subset(len(keys), fraction, seed, identities)
    chosen = [keys[i] for i in idx]
    sid = subset_id(chosen)
    write_json(path, {"id": sid, "fraction": fraction, "seed": seed, "n_total": len(keys), "keys": chosen})
    return idx, sid
