"""Fixed few-shot subsets (Bulat et al. 3.4 and A.3; DESIGN section 3 contract).

A subset is a prefix of one seeded permutation of the training items, so the regimes nest
(2% inside 10% inside 100%) and, once saved with its id, every later experiment reuses the same
images. Items are drawn without looking at the labels (no class balancing). For face recognition
(`identities` given) the very-low regime keeps at least a quarter of the identities: the permutation
starts with one item of each of ceil(U/4) randomly chosen identities, continues with the other items
of those identities up to the very-low size, then the rest at random; a fraction at or below
`VERY_LOW` takes at least that quarter, even when that is more than `fraction * n` items.

Recognition is measured on identities that fine-tuning never saw (LFW's protocol). A dataset whose
test faces share identities with its training faces (SynthFaces splits by face) gets, for recognition
only, an identity-disjoint split (`identity_disjoint_data`); the other tasks keep the dataset's split.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from facerep.downstream.data import Joined, Split, TaskData
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


def held_out_identities(train_ids: np.ndarray, test_ids: np.ndarray, seed: int) -> np.ndarray:
    """The identities recognition tests on, sorted: the fewest of a seeded order of every identity
    (both splits) whose faces, in both splits, number at least the test split's size (so the
    verification test keeps about the dataset's test size), never all of them."""
    pool = np.concatenate([np.asarray(train_ids), np.asarray(test_ids)])
    unique, counts = np.unique(pool, return_counts=True)
    if len(unique) < 2:
        raise InputError("recognition: an identity-disjoint split needs faces of at least 2 identities")
    order = np.random.default_rng(seed + 104_729).permutation(len(unique))
    reach = np.cumsum(counts[order])
    k = int(np.clip(np.searchsorted(reach, len(test_ids)) + 1, 1, len(unique) - 1))
    return np.sort(unique[order[:k]])


def identity_disjoint_data(data: TaskData, seed: int) -> TaskData:
    """Recognition's split of `data` when its test identities also appear in training: training keeps
    the training faces of the other identities; test holds every face of the `held_out_identities`
    (from both splits, labelled `open_set`) and the dataset's other test faces, of identities seen in
    training (`open_set` false, scored only as the secondary closed-set accuracy). No test face of
    the dataset ever trains, and no face of a held-out identity does. Named
    `<dataset>/identity_disjoint`: its fixed subsets are saved under that name."""
    held = held_out_identities(data.train.labels["identity"], data.test.labels["identity"], seed)
    unseen_train = np.isin(data.train.labels["identity"], held)
    if unseen_train.all():
        raise InputError("recognition: every training face belongs to a held-out identity")
    moved = data.train.take(np.flatnonzero(unseen_train))
    labels = {
        k: np.concatenate([moved.labels[k], v]) for k, v in data.test.labels.items() if k in moved.labels
    }
    labels["open_set"] = np.concatenate(
        [np.ones(len(moved), dtype=bool), np.isin(data.test.labels["identity"], held)]
    )
    test = Split(Joined([moved.images, data.test.images]), labels, moved.keys + data.test.keys)
    train = data.train.take(np.flatnonzero(~unseen_train))
    return TaskData(f"{data.name}/identity_disjoint", train, test, None, data.meta)
