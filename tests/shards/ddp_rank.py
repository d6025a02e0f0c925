"""One torch.distributed (gloo) rank reading shards with the loader; run as a script by test_ddp.py.

python ddp_rank.py RANK WORLD INIT_URL SHARDS OUT_JSON
"""

from __future__ import annotations

import datetime
import json
import sys

import torch
import torch.distributed as dist

from facerep.shards.loader import shard_loader


def to_tensor(img, local_boxes):
    return [torch.zeros(3, 4, 4)]


def main(rank: int, world: int, init: str, shards: str, out: str) -> None:
    timeout = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world, timeout=timeout)
    try:
        batches, keys = 0, []
        for batch in shard_loader(shards, to_tensor, batch_size=3, shuffle_buffer=4):
            step = torch.ones(1)
            dist.all_reduce(step)  # a rank that ran out of data would leave the other waiting here
            batches += 1
            keys += batch["__key__"]
        with open(out, "w") as f:
            json.dump({"batches": batches, "keys": keys, "world": dist.get_world_size()}, f)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
