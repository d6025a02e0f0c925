"""SynthFaces scenes through harvest and detect, then curate and shard, tracked in a real MLflow store."""

from __future__ import annotations

import json
import tarfile

import mlflow
import pandas as pd
import webdataset as wds

from facerep.params import load_params
from facerep.stages import run_stage


def test_synthfaces_to_shards(tmp_path):
    paths = [f"paths.{k}={tmp_path / k}" for k in ("synth", "raw", "faces", "curated", "shards")]
    params = load_params(
        None,
        [
            *paths,
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            "synth.faces=8",
            "synth.scenes=6",
            "synth.videos=0",
            "curate.local.candidates=3",
            "shard.max_count=4",
        ],
    )
    for stage in ("synth", "harvest", "detect", "curate", "shard"):
        run_stage(stage, params)

    curated = pd.read_parquet(tmp_path / "curated" / "curated.parquet")
    kept = set(curated.loc[curated["keep"], "face_id"])
    assert kept, "SynthFaces scenes gave no kept face"
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    urls = [str(tmp_path / "shards" / e["name"]) for e in index["shards"]]
    from_wds = {s["__key__"]: json.loads(s["json"]) for s in wds.WebDataset(urls, shardshuffle=False)}
    from_tar = []
    for url in urls:
        with tarfile.open(url) as tar:
            from_tar += [n[: -len(".jpg")] for n in tar.getnames() if n.endswith(".jpg")]
    assert sorted(from_tar) == sorted(from_wds) == sorted(kept)
    assert all(meta["license"] == "SynthFaces (generated, CC0 1.0)" for meta in from_wds.values())

    mlflow.set_tracking_uri(params.tracking.uri)
    runs = mlflow.search_runs(experiment_names=[params.tracking.experiment])
    by_stage = runs.set_index("tags.facerep.stage")
    assert by_stage.loc["shard", "metrics.samples"] == len(kept)
    assert by_stage.loc["curate", "metrics.kept"] == len(kept)
    shard_run = by_stage.loc["shard", "run_id"]
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(shard_run)] == ["index.json"]
