"""The pre-training loader: equal batches on every rank, curated local boxes, fsspec URLs, folders."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections import Counter

import pytest
import torch
from shard_data import make_pipeline_outputs

from facerep.errors import InputError
from facerep.shards.loader import folder_loader, shard_loader
from facerep.shards.stage import run
from facerep.ssl.augment import MultiCropTransform
from facerep.tracking import Tracker

SMALL = MultiCropTransform(global_size=32, global_count=2, local_size=16, local_count=3)


@pytest.fixture
def shards(tmp_path, params_for):
    """21 faces in 5 shards (max 5): an uneven count for 2 ranks; f0004 has no curated local boxes."""
    make_pipeline_outputs(tmp_path, 21, {"f0004": {"local_boxes": []}})
    run(params_for("shard.max_count=5"), Tracker(None))
    return tmp_path / "shards"


def keys_of(loader):
    batches = list(loader)
    return batches, [k for b in batches for k in b["__key__"]]


def test_two_ranks_get_the_same_number_of_batches(shards):
    per_rank = []
    for rank in (0, 1):
        loader = shard_loader(str(shards), SMALL, batch_size=4, shuffle_buffer=8, rank=rank, world_size=2)
        batches, keys = keys_of(loader)
        per_rank.append((batches, keys))
        for b in batches:
            assert [tuple(v.shape) for v in b["views"]] == [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * 3
            assert all(m["license"] for m in b["json"])
    assert len(per_rank[0][0]) == len(per_rank[1][0]) == 21 // (2 * 4)
    # rank 0 reads shards 0, 2, 4 (11 faces), rank 1 shards 1 and 3 (10): disjoint at first pass
    assert not set(per_rank[0][1][:8]) & set(per_rank[1][1][:8])


def test_workers_and_resampled_mode_keep_the_batch_count(shards):
    loader = shard_loader(str(shards), SMALL, batch_size=3, num_workers=2, rank=1, world_size=2)
    batches, _ = keys_of(loader)
    assert len(batches) == 21 // (2 * 3)
    with pytest.raises(InputError, match="cannot fill one batch"):
        shard_loader(str(shards), SMALL, batch_size=4, rank=0, world_size=8, resampled=True)
    with pytest.raises(InputError, match="resampled"):
        shard_loader(str(shards), SMALL, batch_size=1, rank=0, world_size=8)
    batches = list(shard_loader(str(shards), SMALL, batch_size=1, rank=3, world_size=8, resampled=True))
    assert len(batches) == 21 // 8


def test_the_transform_gets_curated_boxes_or_none_for_fallback(shards):
    seen = []

    def recording(img, local_boxes):
        seen.append((img.size, local_boxes))
        return [torch.zeros(3, 8, 8)]

    batches = list(shard_loader(str(shards), recording, batch_size=1, shuffle_buffer=0, rank=0, world_size=1))
    assert len(batches) == 21 and len({b["__key__"][0] for b in batches}) == 21
    first_pass = seen[:21]  # the pipeline may already have prepared the next epoch's first sample
    assert {size for size, _ in first_pass} == {(256, 256)}
    assert Counter(boxes is None for _, boxes in first_pass) == {False: 20, True: 1}
    assert all(boxes == [(64.0, 64.0, 192.0, 192.0)] for _, boxes in first_pass if boxes is not None)


def test_shards_over_http_read_like_local_files(shards):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shards))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        _, remote = keys_of(shard_loader(url, SMALL, batch_size=7, shuffle_buffer=0, seed=5))
        _, local = keys_of(shard_loader(str(shards), SMALL, batch_size=7, shuffle_buffer=0, seed=5))
        _, file_url = keys_of(shard_loader(f"file://{shards}", SMALL, batch_size=7, shuffle_buffer=0, seed=5))
    finally:
        server.shutdown()
    assert remote == local == file_url and sorted(local) == [f"f{i:04d}" for i in range(21)]


def test_image_folder_has_the_same_interface(tmp_path):
    make_pipeline_outputs(tmp_path, 10)
    crops = tmp_path / "faces" / "crops"
    (crops / "f0001.json").write_text(json.dumps({"local_boxes": [[10, 10, 100, 100, 0.5]]}))
    batches = [list(folder_loader(crops, SMALL, batch_size=2, rank=r, world_size=2)) for r in (0, 1)]
    assert len(batches[0]) == len(batches[1]) == 2
    batch = batches[0][0]
    assert set(batch) == {"__key__", "views", "json"}
    assert [tuple(v.shape) for v in batch["views"]] == [(2, 3, 32, 32)] * 2 + [(2, 3, 16, 16)] * 3
