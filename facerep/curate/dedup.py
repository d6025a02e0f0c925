"""Exact and near-duplicate faces: group them and keep one representative per group.

Bulat et al. (section 6) find large redundancy in facial pre-training sets, above all in video
datasets where neighbouring frames repeat a face. Exact copies are found by sha256; re-encoded,
resized or slightly re-cropped copies by their face embeddings: every face's nearest neighbours
come from a faiss index, and pairs at or above the embedder's duplicate threshold are duplicates.
The index is exact (`Flat`, O(n^2)) up to `curate.dedup.approximate_above` faces and an inverted
file (IVF, searching 16 of about 4 sqrt(n) cells) above it (`auto`; any faiss index factory string can
be set instead), whose recall of planted duplicates against the exact index is measured in
bench/bench_dedup.py.

Groups do not chain. Connected components (union-find) of near pairs would join a whole video clip,
frame 1 with frame 300, through the neighbours between them. Instead, faces are visited in priority
order (detector score) and each face not yet grouped leads a group of its not-yet-grouped near
duplicates (leader clustering), so every member is within the threshold of its representative.
Exact copies are identical, so they are merged first and treated as one face.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def exact_pairs(keys: Sequence[str | None]) -> list[tuple[int, int]]:
    """Pairs (first, later) of positions sharing a non-empty key (a sha256)."""
    first: dict[str, int] = {}
    pairs = []
    for i, key in enumerate(keys):
        if not key:
            continue
        if key in first:
            pairs.append((first[key], i))
        else:
            first[key] = i
    return pairs


IVF_PROBES = 16  # cells an IVF search visits: a near duplicate lies in its face's cell or next to it


def choose_index(index_factory: str, n: int, approximate_above: int) -> str:
    """The faiss index factory string for `n` faces: `auto` is exact `Flat` up to `approximate_above`
    faces and above it an inverted file of about 4 sqrt(n) cells (faiss's guideline), which searches
    IVF_PROBES of them per face instead of all n faces."""
    if index_factory != "auto":
        return index_factory
    if n <= approximate_above:
        return "Flat"
    cells = 1 << round(np.log2(4 * np.sqrt(n)))
    return f"IVF{cells},Flat"


def near_pairs(
    vectors: np.ndarray,
    similarity_from_sqdist: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    neighbours: int,
    index_factory: str = "auto",
    approximate_above: int = 100_000,
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, of faces whose similarity is >= `threshold`.

    Each face looks at its `neighbours` nearest faces in a faiss L2 index over `vectors` (the
    embedder's `index_vectors`, whose squared distances map to its similarity).
    """
    import faiss

    n = len(vectors)
    if n < 2:
        return []
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    factory = choose_index(index_factory, n, approximate_above)
    index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_L2)
    if not index.is_trained:
        index.train(x)
    index.add(x)
    if hasattr(faiss.downcast_index(index), "nprobe"):
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", IVF_PROBES)
    sqdist, ids = index.search(x, min(neighbours + 1, n))
    sims = similarity_from_sqdist(np.maximum(sqdist, 0.0))
    pairs: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j, s in zip(ids[i], sims[i], strict=True):
            if j < 0 or j == i or s < threshold:
                continue
            key = (min(i, int(j)), max(i, int(j)))
            pairs[key] = max(pairs.get(key, -np.inf), float(s))
    return [(i, j, s) for (i, j), s in sorted(pairs.items())]


def components(n: int, pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Each position's connected component under `pairs`, named by its smallest member (union-find).
    Safe for exact copies, which are identical; near pairs would chain (see the module docstring)."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def representatives(
    n: int,
    near: Sequence[tuple[int, int]],
    priority: Sequence[float],
    exact: Sequence[tuple[int, int]] = (),
) -> np.ndarray:
    """For each position, the position of its group's representative (itself when it is one).

    Exact copies merge first; then, in order of priority (ties to the first position), each copy group
    not yet taken leads a group with the not-yet-taken groups it has a near pair with, represented by
    its highest-priority face. So a representative is a near duplicate (or a copy) of every member."""
    group = components(n, exact)
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(g, []).append(i)
    best = {g: max(m, key=lambda i: (priority[i], -i)) for g, m in members.items()}
    linked: dict[int, set[int]] = {g: set() for g in members}
    for a, b in near:
        if group[a] != group[b]:
            linked[group[a]].add(group[b])
            linked[group[b]].add(group[a])
    leader: dict[int, int] = {}
    for g in sorted(members, key=lambda g: (-priority[best[g]], best[g])):
        if g in leader:
            continue
        leader[g] = best[g]
        for other in sorted(linked[g]):
            leader.setdefault(other, best[g])
    return np.array([leader[group[i]] for i in range(n)], dtype=np.int64)
