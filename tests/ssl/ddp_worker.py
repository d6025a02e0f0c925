"""Run by `torchrun` in test_ddp.py: train with the given `--set` items; each rank writes its losses
and a checksum of its model's weights to `<out>.<rank>.json`. With `COPY_CHECKPOINT=DIR` rank 0 copies
the step-2 checkpoint to DIR while step 3 runs (the checkpoint of an interrupted run)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from facerep.params import load_params
from facerep.ssl import dist
from facerep.ssl.engine import Engine
from facerep.ssl.stage import data_root, output_dir


def main() -> None:
    out, sets = Path(sys.argv[1]), sys.argv[2:]
    params = load_params(None, sets)
    out_dir = output_dir(params)

    def copy_step2(metrics: dict[str, float], step: int) -> None:
        if step == 3 and os.environ.get("COPY_CHECKPOINT"):
            dest = Path(os.environ["COPY_CHECKPOINT"]) / "pretrain" / params.pretrain.method
            dest.mkdir(parents=True)
            shutil.copyfile(out_dir / "last.ckpt", dest / "last.ckpt")

    engine = Engine(params.pretrain, data_root(params), out_dir, seed=params.seed, log=copy_step2)
    result = engine.fit()
    weights = float(sum(p.double().sum() for p in engine.method.parameters()))
    doc = {"losses": result.losses, "world": dist.world_size(), "weights": weights}
    Path(f"{out}.{dist.rank()}.json").write_text(json.dumps(doc))


if __name__ == "__main__":
    main()
