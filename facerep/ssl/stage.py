"""`facerep pretrain`: self-supervised pre-training into `<paths.models>/pretrain/<method>/`.

Writes `last.ckpt` (everything to resume), `backbone.pt` (weights for the finetune stage) and
`metrics.json` (final loss, steps, images per second, kNN accuracy). Re-running on the same directory
resumes from `last.ckpt`; `resume_run_id(params)` gives the MLflow run id stored in it so the caller
can continue that run (`facerep.tracking.stage_run(params, "pretrain", run_id=...)`).
Under `torchrun`, every process runs this and rank 0 alone writes files and logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facerep.io import write_json
from facerep.params import Params
from facerep.stages import StageResult
from facerep.tracking import Tracker

if TYPE_CHECKING:
    from facerep.ssl.knn import KnnMonitor

DEFAULT_ROOTS = {"synth_faces": "synth", "shards": "shards", "folder": "curated"}


def output_dir(params: Params) -> Path:
    return Path(params.paths.models) / "pretrain" / params.pretrain.method


def data_root(params: Params) -> Path:
    """`pretrain.data.path`, else the default location of the chosen source under `paths`."""
    d = params.pretrain.data
    if d.path is not None:
        return Path(d.path)
    return Path(getattr(params.paths, DEFAULT_ROOTS[d.source]))


def resume_run_id(params: Params) -> str | None:
    """The MLflow run id saved in an existing `last.ckpt`, so a resumed run logs to the same run."""
    from facerep.ssl.checkpoint import load_checkpoint

    ckpt = load_checkpoint(output_dir(params) / "last.ckpt")
    return None if ckpt is None else ckpt.get("mlflow_run_id")


def knn_monitor(params: Params) -> KnnMonitor | None:
    """The kNN monitor on SynthFaces labels, when enabled and the labels table is there."""
    from facerep.ssl.knn import KnnMonitor

    p = params.pretrain
    root = data_root(params)
    if (
        not p.knn.enabled
        or p.data.source != "synth_faces"
        or not (root / "faces" / "labels.parquet").is_file()
    ):
        return None
    return KnnMonitor(root, p.data.size, p.knn.label, p.knn.max_train, p.knn.max_test, params.seed)


def run(params: Params, tracker: Tracker) -> StageResult:
    """Pre-train `pretrain.method` on `pretrain.backbone`; resume if the output holds a checkpoint."""
    from facerep.ssl import dist
    from facerep.ssl.engine import Engine

    out = output_dir(params)
    engine = Engine(
        params.pretrain,
        data_root(params),
        out,
        seed=params.seed,
        log=lambda metrics, step: tracker.log_metrics(metrics, step=step),
        run_id=tracker.run_id,
        knn=knn_monitor(params),
    )
    result = engine.fit()
    paths = [out / "last.ckpt", out / "backbone.pt", out / "metrics.json"]
    if dist.rank() != 0:
        return StageResult(outputs=paths)
    doc = {**result.metrics, "method": params.pretrain.method, "backbone": params.pretrain.backbone}
    write_json(out / "metrics.json", doc)
    tracker.register_backbone(out / "backbone.pt", params.pretrain.method)
    return StageResult(metrics=dict(result.metrics), outputs=paths)
