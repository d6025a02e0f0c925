"""Exact and near-duplicate faces: group them and keep one representative per group.

Bulat et al. (section 6) find large redundancy in facial pre-training sets, above all in video
datasets where neighbouring frames repeat a face. Exact copies are found by sha256; re-encoded,
resized or slightly re-cropped copies by their face embeddings: every face's nearest neighbours
come from a faiss index (exact `Flat` by default; an index factory string such as `HNSW32` or
`IVF4096,Flat` scales the same code to millions of faces), and pairs at or above the embedder's
duplicate threshold are joined. Groups are the connected components of those pairs (union-find);
the representative is the face with the highest priority (detector score), ties to the first.
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


def near_pairs(
    vectors: np.ndarray,
    similarity_from_sqdist: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    neighbours: int,
    index_factory: str = "Flat",
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
    index = faiss.index_factory(x.shape[1], index_factory, faiss.METRIC_L2)
    if not index.is_trained:
        index.train(x)
    index.add(x)
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


def representatives(n: int, pairs: Sequence[tuple[int, int]], priority: Sequence[float]) -> np.ndarray:
    """For each position, the position of its group's representative (itself when it is one)."""
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
    best: dict[int, int] = {}
    for i in range(n):
        root = find(i)
        cur = best.get(root)
        if cur is None or priority[i] > priority[cur]:
            best[root] = i
    return np.array([best[find(i)] for i in range(n)], dtype=np.int64)
