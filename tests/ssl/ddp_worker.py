"""Run by `torchrun` in test_ddp.py: train with the given `--set` items and write rank 0's losses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from facerep.params import load_params
from facerep.ssl import dist
from facerep.ssl.engine import Engine
from facerep.ssl.stage import data_root, output_dir


def main() -> None:
    out, sets = Path(sys.argv[1]), sys.argv[2:]
    params = load_params(None, sets)
    result = Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed).fit()
    if dist.rank() == 0:
        out.write_text(json.dumps({"losses": result.losses, "world": dist.world_size()}))


if __name__ == "__main__":
    main()
