"""Few-shot subsets: deterministic, nested, saved with an id, the 2% identity rule (Bulat A.3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facerep.downstream.splits import few_shot_subset, saved_subset, validation_part
from facerep.errors import InputError


def test_deterministic_and_nested():
    a = [few_shot_subset(1000, f, seed=4) for f in (0.02, 0.1, 1.0)]
    b = [few_shot_subset(1000, f, seed=4) for f in (0.02, 0.1, 1.0)]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert [len(x) for x in a] == [20, 100, 1000]
    assert set(a[0]) <= set(a[1]) <= set(a[2])
    assert not np.array_equal(few_shot_subset(1000, 0.1, seed=5), a[1])


def test_identity_rule_keeps_a_quarter_and_nests():
    ids = np.repeat(np.arange(100), 20)  # 2000 faces of 100 people
    s2 = few_shot_subset(2000, 0.02, seed=1, identities=ids)
    s10 = few_shot_subset(2000, 0.1, seed=1, identities=ids)
    assert len(s2) == 40 and len(np.unique(ids[s2])) >= 25
    assert set(s2) <= set(s10)
    few = np.repeat(np.arange(400), 2)  # 2% of 800 = 16 items < a quarter of 400 people: the subset grows
    s = few_shot_subset(800, 0.02, seed=0, identities=few)
    assert len(np.unique(few[s])) >= 100


def test_saved_subset_is_reused_and_checked(tmp_path):
    keys = [f"k{i}" for i in range(300)]
    idx, sid = saved_subset(tmp_path, keys, 0.1, 0)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["id"] == sid
    again, sid2 = saved_subset(tmp_path, list(reversed(keys)), 0.1, 0)
    assert sid2 == sid and sorted(299 - i for i in again) == sorted(idx.tolist())
    with pytest.raises(InputError, match="absent"):
        saved_subset(tmp_path, keys[:10], 0.1, 0)


def test_validation_part_inside_the_subset():
    subset = few_shot_subset(500, 0.1, seed=0)
    val = validation_part(subset, 0.2, 8, seed=0)
    assert len(val) == 10 and set(val) <= set(subset)
    assert len(validation_part(np.arange(5), 0.2, 8, seed=0)) == 4  # a tiny subset keeps one item to train on
