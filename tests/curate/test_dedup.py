"""Near-duplicate grouping at scale: groups do not chain (every member is a near duplicate of its
representative), and the approximate index `auto` switches to finds the planted duplicates the exact
index finds."""

from __future__ import annotations

import numpy as np

from facerep.curate.dedup import choose_index, near_pairs, representatives


def _cosine(sqdist: np.ndarray) -> np.ndarray:
    return 1.0 - sqdist / 2.0  # unit vectors


def test_a_chain_of_neighbours_is_not_one_group() -> None:
    """Frames 0-1-2-3-4 of a clip, each a near duplicate of the next only: union-find would make one
    group represented by frame 2, whose distance to frames 0 and 4 is above the threshold."""
    near = [(0, 1), (1, 2), (2, 3), (3, 4)]
    reps = representatives(5, near, priority=[0.1, 0.2, 0.9, 0.3, 0.4])
    assert reps.tolist() == [0, 2, 2, 2, 4]
    linked = {frozenset(p) for p in near}
    assert all(r == i or frozenset((i, r)) in linked for i, r in enumerate(reps))


def test_exact_copies_merge_first_and_the_best_face_represents() -> None:
    reps = representatives(5, [(3, 1)], priority=[0.5, 0.9, 0.1, 0.2, 0.3], exact=[(0, 3), (2, 4)])
    assert reps.tolist() == [1, 1, 4, 1, 4]
    # A copy of a face taken by another group goes with its copy, not to a group of its own.
    reps = representatives(4, [(0, 1), (2, 3)], priority=[0.9, 0.5, 0.8, 0.1], exact=[(1, 3)])
    assert reps.tolist() == [0, 0, 2, 0]


def test_auto_index_is_exact_up_to_the_threshold_and_approximate_above() -> None:
    assert choose_index("auto", 1000, 1000) == "Flat"
    assert choose_index("auto", 1001, 1000) == "IVF128,Flat"
    assert choose_index("auto", 1_000_000, 1000) == "IVF4096,Flat"
    assert choose_index("IVF64,Flat", 10, 1000) == "IVF64,Flat"


def test_approximate_index_recalls_the_planted_duplicates() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((6000, 64)).astype(np.float32)
    copies = rng.choice(len(base), 300, replace=False)
    noisy = base[copies] + 0.08 * rng.standard_normal((300, 64)).astype(np.float32)
    x = np.concatenate([base, noisy])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    planted = {(int(c), len(base) + k) for k, c in enumerate(copies)}
    exact = {(i, j) for i, j, _ in near_pairs(x, _cosine, 0.9, 8, "Flat")}
    approx = {(i, j) for i, j, _ in near_pairs(x, _cosine, 0.9, 8, "auto", approximate_above=1000)}
    assert planted <= exact  # the threshold separates planted copies from unrelated faces
    assert len(approx & exact) / len(exact) >= 0.98
