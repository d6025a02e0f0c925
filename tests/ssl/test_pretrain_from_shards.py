"""`facerep pretrain` with default parameters reads the shard stage's output: no SynthFaces images needed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from facerep.errors import InputError
from facerep.io import write_json
from facerep.params import load_params
from facerep.shards.writer import Sample, write_shards
from facerep.stages import run_stage


def shards_of(synth_root: Path, out: Path, count: int) -> Path:
    """`count` SynthFaces faces as JPEG crops in real shards (the shard stage's format), with local boxes."""
    crops = out / "crops"
    crops.mkdir(parents=True)
    samples = []
    for png in sorted((synth_root / "faces" / "64").glob("*.png"))[:count]:
        jpg = crops / f"{png.stem}.jpg"
        Image.open(png).convert("RGB").save(jpg, quality=95)
        meta = {"face_id": png.stem, "license": "CC0 1.0", "local_boxes": [[8, 8, 40, 40, 0.5]]}
        samples.append(Sample(png.stem, jpg, jpg.stat().st_size, meta))
    entries, _ = write_shards(samples, out / "shards", 0, 16, 1 << 30)
    write_json(out / "shards" / "index.json", {"samples": count, "shards": entries})
    return out / "shards"


@pytest.mark.parametrize("method", ["swav", "pros"])
def test_default_pretrain_trains_from_the_shards_alone(tmp_path: Path, synth_root: Path, method: str) -> None:
    shards = shards_of(synth_root, tmp_path, 40)
    params = load_params(
        None,
        [
            f"paths.shards={shards}",
            f"paths.synth={tmp_path / 'no-synth'}",  # no SynthFaces images anywhere
            f"paths.models={tmp_path / 'models'}",
            "tracking.enabled=false",
            f"pretrain.method={method}",
            "pretrain.backbone=resnet_tiny",
            "pretrain.batch_size=8",
            "pretrain.num_workers=2",
            "pretrain.max_steps=6",
            f"pretrain.{method}.crops.local_count=2",
            f"pretrain.{method}.prototypes=50",
        ],
    )
    assert params.pretrain.data.source == "shards"
    result = run_stage("pretrain", params)
    out = tmp_path / "models" / "pretrain" / method
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["data"]["source"] == "shards" and doc["data"]["images"] == 40
    assert doc["steps"] == 6 and doc["epochs"] == pytest.approx(6 / 5)  # 5 batches of 8 per epoch
    assert result.metrics["final_loss"] == doc["final_loss"] and (out / "backbone.pt").is_file()
    if method == "swav":  # new shards: the finished run is not taken for a run on them
        shutil.rmtree(shards)
        shards_of(synth_root, tmp_path / "more", 48)
        moved = params.model_copy(
            update={"paths": params.paths.model_copy(update={"shards": str(tmp_path / "more" / "shards")})}
        )
        with pytest.raises(InputError, match="differs in data fingerprint"):
            run_stage("pretrain", moved)


def test_pretrain_seeds_sit_side_by_side_and_are_fine_tuned_as_their_own_inits(
    tmp_path: Path, synth_root: Path
) -> None:
    """`pretrain.seed` sends each run to `<method>-seed<N>/` with its own weights; the finetune stage
    finds them all as `pretrain:<method>-seed<N>` inits (the benchmark's spread over pre-trainings)."""
    from facerep.downstream.inits import resolve_inits
    from facerep.ssl.backbones import load_backbone

    shards = shards_of(synth_root, tmp_path, 24)
    common = [
        f"paths.shards={shards}",
        f"paths.synth={tmp_path / 'no-synth'}",
        f"paths.models={tmp_path / 'models'}",
        "tracking.enabled=false",
        "pretrain.backbone=resnet_tiny",
        "pretrain.batch_size=8",
        "pretrain.num_workers=0",
        "pretrain.max_steps=2",
        "pretrain.swav.prototypes=20",
    ]
    for seed in (0, 1):
        run_stage("pretrain", load_params(None, [*common, f"pretrain.seed={seed}"]))
    models = tmp_path / "models" / "pretrain"
    assert sorted(p.name for p in models.iterdir()) == ["swav-seed0", "swav-seed1"]
    docs = [json.loads((models / f"swav-seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [d["seed"] for d in docs] == [0, 1]
    first, second = (load_backbone(models / f"swav-seed{s}" / "backbone.pt") for s in (0, 1))
    assert any(
        not torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )
    assert resolve_inits(load_params(None, common)) == [
        "scratch",
        "pretrain:swav-seed0",
        "pretrain:swav-seed1",
    ]
