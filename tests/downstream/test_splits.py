"""Few-shot subsets: deterministic, nested, saved with an id, the 2% identity rule (Bulat A.3); the
identity-disjoint split of recognition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facerep.downstream.datasets import load_dataset
from facerep.downstream.splits import (
    few_shot_subset,
    held_out_identities,
    identity_disjoint_data,
    saved_subset,
    validation_part,
)
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


def test_held_out_identities_cover_the_test_size_and_never_everyone():
    train, test = np.repeat(np.arange(50), 4), np.repeat(np.arange(50), 1)  # 200 + 50 faces of 50 people
    held = held_out_identities(train, test, seed=3)
    assert 50 <= 5 * len(held) < 55  # the fewest whose 5 faces each reach the 50 test faces
    np.testing.assert_array_equal(held, held_out_identities(train, test, seed=3))
    assert not np.array_equal(held, held_out_identities(train, test, seed=4))
    assert len(held_out_identities(np.array([1, 1, 2]), np.array([1, 2, 2, 2]), seed=0)) == 1
    with pytest.raises(InputError, match="at least 2 identities"):
        held_out_identities(np.array([7, 7]), np.array([7]), seed=0)


def test_identity_disjoint_data_trains_and_tests_on_different_people(synth_root):
    data = load_dataset("synthfaces", synth_root, 32, None, None)
    view = identity_disjoint_data(data, seed=0)
    unseen = view.test.labels["open_set"]
    trained = set(view.train.labels["identity"])
    assert not trained & set(view.test.labels["identity"][unseen])
    assert set(view.test.labels["identity"][~unseen]) <= trained  # the closed-set part
    assert unseen.sum() >= len(data.test) and (~unseen).sum() > 0
    assert set(data.test.keys) <= set(view.test.keys) and not set(data.test.keys) & set(view.train.keys)
    assert sorted(view.train.keys + view.test.keys) == sorted(data.train.keys + data.test.keys)
    assert len(view.test.images) == len(view.test) and view.test.images[len(view.test) - 1].shape == (
        3,
        32,
        32,
    )
    key = view.test.keys[0]  # a moved training face keeps its labels and its image
    i = data.train.keys.index(key)
    np.testing.assert_array_equal(view.test.labels["pose"][0], data.train.labels["pose"][i])
    assert np.array_equal(view.test.images[0], data.train.images[i])
