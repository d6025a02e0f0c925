"""One torch.distributed (gloo) rank reading shards through the pre-training reader with 2 data workers;
run as a script by test_ddp.py.

python ddp_rank.py RANK WORLD INIT_URL SHARDS BATCHES OUT_JSON
"""

from __future__ import annotations

import datetime
import json
import sys

import torch
import torch.distributed as dist

from facerep.shards.reader import ShardCatalog
from facerep.ssl.data import view_loader
from facerep.ssl.epochs import Layout


def to_tensor(img, local_boxes):
    return [torch.zeros(3, 4, 4)]


def main(rank: int, world: int, init: str, shards: str, batches: int, out: str) -> None:
    timeout = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=timeout)
    try:
        catalog = ShardCatalog(shards)
        layout = Layout(catalog.counts, 3, 0, dist.get_world_size(), dist.get_rank(), workers=2)
        seen = []
        for i, batch in enumerate(view_loader(catalog, to_tensor, layout, 2)):
            if i == batches:
                break
            step = torch.ones(1)
            dist.all_reduce(step)  # a rank that ran out of data would leave the other waiting here
            seen.append({"epoch": batch["epoch"], "keys": batch["keys"]})
        with open(out, "w") as f:
            json.dump({"batches": seen, "per_epoch": layout.batches_per_epoch}, f)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
