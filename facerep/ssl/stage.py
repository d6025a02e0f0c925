"""`facerep pretrain`: self-supervised pre-training into `<paths.models>/pretrain/<method>/`.

Writes `last.ckpt` (everything to resume), `backbone.pt` (weights for the finetune stage) and
`metrics.json` (final loss, steps, images per second, kNN accuracy, seed); with `pretrain.seed` set,
into `<method>-seed<N>/` instead, so that several pre-training seeds of one method can be compared.
Re-running on the same directory resumes from `last.ckpt`; `resume_run_id(params)` gives the MLflow
run id stored in it so the caller can continue that run
(`facerep.tracking.stage_run(params, "pretrain", run_id=...)`). Under `torchrun`, every process runs
this and rank 0 alone writes files and logs. With
`pretrain.nproc: N > 1` outside torchrun, the stage re-launches itself under
`torchrun --standalone --nproc_per_node N` (`facerep.ssl.launch`).

`paths.models` may be an fsspec URL (`s3://bucket/models`, `ftp://host/models`): the three files are
then written there (each in one put), a re-run resumes from the `last.ckpt` there, and the finetune
stage reads `backbone.pt` from there (see `facerep.storage`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from facerep.params import Params
from facerep.stages import StageResult
from facerep.storage import Location, location, write_bytes_atomic
from facerep.tracking import Tracker

if TYPE_CHECKING:
    from facerep.ssl.knn import KnnMonitor

DEFAULT_ROOTS = {"synth_faces": "synth", "shards": "shards", "folder": "curated"}


def output_dir(params: Params) -> Location:
    """`<paths.models>/pretrain/<method>`, or `<method>-seed<N>` with `pretrain.seed` set: a `Path`,
    or a `URLPath` when `paths.models` is a URL."""
    p = params.pretrain
    name = p.method if p.seed is None else f"{p.method}-seed{p.seed}"
    return location(params.paths.models) / "pretrain" / name


def pretrain_seed(params: Params) -> int:
    """`pretrain.seed`, else the global seed."""
    return params.seed if params.pretrain.seed is None else params.pretrain.seed


def data_root(params: Params) -> str:
    """`pretrain.data.path`, else the default location of the chosen source under `paths` (shards may
    be an fsspec URL, so this stays a string)."""
    d = params.pretrain.data
    return d.path if d.path is not None else str(getattr(params.paths, DEFAULT_ROOTS[d.source]))


def resume_run_id(params: Params) -> str | None:
    """The MLflow run id saved in an existing `last.ckpt`, so a resumed run logs to the same run."""
    from facerep.ssl.checkpoint import load_checkpoint

    ckpt = load_checkpoint(output_dir(params) / "last.ckpt")
    return None if ckpt is None else ckpt.get("mlflow_run_id")


def knn_monitor(params: Params) -> KnnMonitor | None:
    """The kNN monitor on SynthFaces labels (`paths.synth`, whatever the pre-training source), when
    enabled and the labels table is there: it reads the face, not the training images."""
    from facerep.ssl.knn import KnnMonitor

    p = params.pretrain
    root = Path(params.paths.synth)
    if not p.knn.enabled or not (root / "faces" / "labels.parquet").is_file():
        return None
    return KnnMonitor(root, p.data.size, p.knn.label, p.knn.max_train, p.knn.max_test, params.seed)


def run(params: Params, tracker: Tracker) -> StageResult:
    """Pre-train `pretrain.method` on `pretrain.backbone`; resume if the output holds a checkpoint."""
    from facerep.ssl import dist
    from facerep.ssl.engine import Engine
    from facerep.ssl.launch import launch, needs_launch

    if needs_launch(params):  # pretrain.nproc > 1: this stage again, under torchrun
        return launch(params, tracker)
    out = output_dir(params)
    engine = Engine(
        params.pretrain,
        data_root(params),
        out,
        seed=pretrain_seed(params),
        log=lambda metrics, step: tracker.log_metrics(metrics, step=step),
        run_id=tracker.run_id,
        knn=knn_monitor(params),
    )
    result = engine.fit()
    # After `fit`: a resumed run has passed the checkpoint's identity check (same worker count).
    tracker.log_params({"pretrain.resolved_num_workers": engine.num_workers})
    paths = [out / "last.ckpt", out / "backbone.pt", out / "metrics.json"]
    if dist.rank() != 0:
        return StageResult(outputs=paths)
    doc = {
        **result.metrics,
        "method": params.pretrain.method,
        "seed": pretrain_seed(params),
        "backbone": params.pretrain.backbone,
        "data": {
            "source": params.pretrain.data.source,
            "path": str(data_root(params)),
            "images": engine.layout.total,
            "fingerprint": engine.catalog.fingerprint,
        },
    }
    # The bytes facerep.io.write_json writes, through the one writer that also knows URLs.
    text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(out / "metrics.json", text.encode("utf-8"))
    if result.steps > result.start_step:  # a re-run that trained nothing registers nothing new
        register_backbone(tracker, out / "backbone.pt", params)
    return StageResult(metrics=dict(result.metrics), outputs=paths)


def register_backbone(tracker: Tracker, backbone: Location, params: Params) -> None:
    """Log the trained `backbone.pt` (a path or an fsspec URL) as an MLflow PyTorch model, registered as
    `facerep-backbone@<method>`, for images the size of the method's global views."""
    if not tracker.enabled:  # loading the network is only worth it when it will be logged
        return
    from facerep.ssl.backbones import load_backbone

    method = params.pretrain.method
    size = params.pretrain.section(method).crops.global_size
    tracker.register_backbone(load_backbone(backbone), method, size)
