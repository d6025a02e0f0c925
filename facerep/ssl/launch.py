"""`pretrain.nproc > 1`: the pretrain stage re-launched under `torchrun` on this node.

`facerep pretrain`, the Prefect task and `dvc repro` all run the stage through `run_stage`, in one
process. With `pretrain.nproc: N` (N > 1) and no `torchrun` around it already, `facerep.ssl.stage.run`
hands over to `launch`: it writes the parameters to a temporary file and runs

    python -m torch.distributed.run --standalone --nproc_per_node N -m facerep.ssl.launch PARAMS RUN_ID RESULT

Every rank runs the stage itself (DDP, `facerep.ssl.engine`) inside the MLflow run the caller opened
(rank 0 alone records); rank 0 writes the stage's result to RESULT, which the caller returns as its
own. A failed rank fails the stage with torchrun's exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from facerep.errors import FacerepError

if TYPE_CHECKING:
    from facerep.params import Params
    from facerep.stages import StageResult
    from facerep.tracking import Tracker


class LaunchError(FacerepError):
    """The `torchrun` of a multi-process pre-training failed."""


def needs_launch(params: Params) -> bool:
    """True when `pretrain.nproc` asks for more processes and this one was not started by torchrun."""
    return params.pretrain.nproc > 1 and "WORLD_SIZE" not in os.environ


def command(params_file: Path, run_id: str | None, result_file: Path, nproc: int) -> list[str]:
    """The torchrun command line of the re-launch (torchrun as `python -m torch.distributed.run`, so
    it is this environment's)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "facerep.ssl.launch",
        str(params_file),
        run_id or "",
        str(result_file),
    ]


def launch(params: Params, tracker: Tracker) -> StageResult:
    """Run the pretrain stage in `pretrain.nproc` processes under torchrun; return rank 0's result."""
    from facerep.stages import StageResult

    with tempfile.TemporaryDirectory(prefix="facerep-pretrain-") as tmp:
        params_file, result_file = Path(tmp) / "params.json", Path(tmp) / "result.json"
        params_file.write_text(json.dumps(params.model_dump(mode="json")))
        cmd = command(params_file, tracker.run_id, result_file, params.pretrain.nproc)
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0 or not result_file.is_file():
            raise LaunchError(
                f"pretrain.nproc={params.pretrain.nproc}: torchrun exited with status {proc.returncode} "
                "(see the ranks' output above)"
            )
        doc = json.loads(result_file.read_text())
    return StageResult(metrics=doc["metrics"], outputs=[Path(p) for p in doc["outputs"]])


def main(argv: list[str]) -> None:
    """One rank: the stage with the caller's parameters, in the caller's MLflow run."""
    from facerep.params import Params
    from facerep.ssl import stage
    from facerep.tracking import stage_run

    params_file, run_id, result_file = Path(argv[0]), argv[1] or None, Path(argv[2])
    params = Params.model_validate(json.loads(params_file.read_text()))
    with stage_run(params, "pretrain", run_id=run_id) as tracker:
        result = stage.run(params, tracker)
    if int(os.environ.get("RANK", "0")) == 0:
        doc = {"metrics": result.metrics, "outputs": [str(p) for p in result.outputs]}
        result_file.write_text(json.dumps(doc))


if __name__ == "__main__":
    main(sys.argv[1:])
