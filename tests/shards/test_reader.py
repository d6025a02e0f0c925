"""The pre-training reader: every item once per epoch, a new order each epoch, exact resume, curated
local boxes for face-aware methods, fsspec URLs, and clear errors for broken shards."""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import threading

import pytest
import torch
from reader_data import box_faces

from facerep.errors import InputError
from facerep.shards.reader import ShardCatalog
from facerep.ssl.augment import MultiCropTransform
from facerep.ssl.data import view_loader
from facerep.ssl.epochs import Layout, block_order, worker_epoch
from facerep.ssl.registry import get_method

SMALL = MultiCropTransform(global_size=32, global_count=2, local_size=16, local_count=3)


def batches(root: str, n: int, *, batch: int, workers: int, start: int = 0, seed: int = 0, transform=SMALL):
    catalog = ShardCatalog(root)
    layout = Layout(catalog.counts, batch, seed, workers=max(1, workers))
    return list(itertools.islice(view_loader(catalog, transform, layout, workers, start=start), n))


@pytest.mark.parametrize(
    ("counts", "world", "workers", "batch", "block"),
    [((5, 5, 5, 5, 4), 2, 2, 3, 4), ((7, 1, 9), 3, 2, 2, 5), ((10,), 1, 3, 4, 2048), ((3, 3), 2, 4, 1, 2)],
)
def test_plan_reads_every_item_at_most_once_per_epoch_and_all_ranks_alike(
    counts, world, workers, batch, block
):
    orders = []
    for epoch in range(3):
        by_position: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (batch position, rank) -> items
        for rank, worker in itertools.product(range(world), range(workers)):
            layout = Layout(counts, batch, 7, world, rank, workers, block)
            part = worker_epoch(layout, epoch, worker)
            assert sum(b - a for _, a, b in part.segments) == len(part.positions) * batch
            items = [(c, i) for c, a, b in part.segments for i in range(a, b)]
            items = [items[j] for j in block_order(len(items), block, (7, epoch, rank, worker))]
            for j, t in enumerate(part.positions):
                by_position[(t, rank)] = items[j * batch : (j + 1) * batch]
        k = sum(counts) // (world * batch)
        assert sorted(by_position) == sorted(
            itertools.product(range(epoch * k, (epoch + 1) * k), range(world))
        )
        seen = [item for key in sorted(by_position) for item in by_position[key]]
        assert len(seen) == len(set(seen)) == k * world * batch
        orders.append(seen)
    assert orders[0] != orders[1]


def test_one_epoch_reads_each_face_once_and_the_next_epoch_in_another_order(tmp_path):
    shards = box_faces(tmp_path, 24, max_count=5)
    got = batches(str(shards), 16, batch=3, workers=2)
    assert {b["epoch"] for b in got[:8]} == {0} and {b["epoch"] for b in got[8:]} == {1}
    first = [k for b in got[:8] for k in b["keys"]]
    second = [k for b in got[8:] for k in b["keys"]]
    assert sorted(first) == sorted(second) == [f"f{i:04d}" for i in range(24)]
    assert first != second
    assert [tuple(v.shape) for v in got[0]["views"]] == [(3, 3, 32, 32)] * 2 + [(3, 3, 16, 16)] * 3


def test_a_resumed_reader_yields_exactly_the_views_of_an_uninterrupted_one(tmp_path):
    shards = box_faces(tmp_path, 20, max_count=6)
    whole = batches(str(shards), 9, batch=4, workers=2)
    resumed = batches(str(shards), 6, batch=4, workers=2, start=3)  # mid-epoch 0 (5 per epoch), odd start
    for a, b in zip(whole[3:], resumed, strict=True):
        assert a["keys"] == b["keys"] and a["epoch"] == b["epoch"]
        assert all(torch.equal(x, y) for x, y in zip(a["views"], b["views"], strict=True))


def test_face_aware_methods_cut_local_views_inside_the_curated_box(tmp_path):
    shards = box_faces(tmp_path, 8, max_count=8)
    plain = dict(
        global_size=32, local_size=16, local_count=4, jitter=0.0, gray=0.0, blur=[0.0], box_jitter=0.0
    )
    aware = MultiCropTransform(**plain, local_scale=(0.05, 0.1), face_aware=True)
    blind = MultiCropTransform(**plain, local_scale=(0.05, 0.1), face_aware=False)
    lowest = torch.tensor(-0.485 / 0.229)  # a black pixel after ImageNet normalisation (red channel)
    local = [v for b in batches(str(shards), 2, batch=4, workers=1, transform=aware) for v in b["views"][2:]]
    assert all(bool((v[:, 0] > 2.0).all()) for v in local)  # white: every pixel inside the box
    local = [v for b in batches(str(shards), 2, batch=4, workers=1, transform=blind) for v in b["views"][2:]]
    assert any(bool(torch.isclose(v[:, 0], lowest, atol=0.1).any()) for v in local)  # random crops hit black
    assert get_method("pros").face_aware_crops and not get_method("swav").face_aware_crops


def test_faces_without_curated_boxes_get_random_local_crops(tmp_path):
    shards = box_faces(tmp_path, 4, max_count=4, boxes=False)
    seen = []

    def recording(img, local_boxes):
        seen.append(local_boxes)
        return [torch.zeros(3, 8, 8)]

    batches(str(shards), 1, batch=4, workers=0, transform=recording)  # in this process
    assert seen == [None] * 4


def test_shards_over_http_read_like_local_files(tmp_path):
    shards = box_faces(tmp_path, 12, max_count=5)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shards))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = batches(url, 3, batch=4, workers=1)
        file_url = batches(f"file://{shards}", 3, batch=4, workers=1)
    finally:
        server.shutdown()
    local = batches(str(shards), 3, batch=4, workers=1)
    for a, b, c in zip(remote, file_url, local, strict=True):
        assert a["keys"] == b["keys"] == c["keys"]
        assert all(torch.equal(x, y) for x, y in zip(a["views"], c["views"], strict=True))


def test_missing_index_and_a_short_shard_are_input_errors_naming_the_file(tmp_path):
    with pytest.raises(InputError, match=r"index\.json: not found"):
        ShardCatalog(str(tmp_path))
    shards = box_faces(tmp_path, 6, max_count=6)
    index = json.loads((shards / "index.json").read_text())
    index["shards"][0]["count"] = 9
    (shards / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match=r"shard-000000.tar: holds 6 samples, index.json says 9"):
        batches(str(shards), 2, batch=9, workers=1)
    with pytest.raises(InputError, match="exceeds the 9 images"):
        _ = Layout((9,), 5, 0, world=2).batches_per_epoch
