"""The finetune stage's points end to end on SynthFaces: a finished point is reused only while its
settings, backbone file and data are unchanged; the chance floor is written beside the inits;
recognition trains and tests on different people."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from downstream_fixtures import small_params

from facerep.downstream.inits import resolve_inits
from facerep.ssl.backbones import build_backbone, save_backbone
from facerep.stages import run_stage

ONE_POINT = [
    "tracking.enabled=false",
    "finetune.image_size=32",
    "finetune.seeds=1",
    "finetune.regimes=[1.0]",
    "finetune.tasks=[pose]",
    "finetune.search.lr=[0.01]",
]


def _save_backbone(models: Path, seed: int) -> None:
    torch.manual_seed(seed)
    save_backbone(build_backbone("resnet_tiny"), models / "pretrain" / "byol" / "backbone.pt", {})


def _doc(results: Path, init: str, task: str = "pose", regime: str = "1") -> dict:
    return json.loads(
        (results / "finetune" / task / "synthfaces" / init / regime / "metrics.json").read_text()
    )


def test_a_point_reruns_when_its_backbone_file_changes(tmp_path, synth_root):
    params = small_params(tmp_path, synth_root, *ONE_POINT, "finetune.inits=[pretrain:byol]")
    results = tmp_path / "results"
    _save_backbone(tmp_path / "models", seed=0)
    run_stage("finetune", params)
    first = _doc(results, "pretrain-byol")
    written = (results / "finetune/pose/synthfaces/pretrain-byol/1/metrics.json").stat().st_mtime_ns
    run_stage("finetune", params)  # nothing changed: the point is reused as it is
    assert (results / "finetune/pose/synthfaces/pretrain-byol/1/metrics.json").stat().st_mtime_ns == written

    _save_backbone(tmp_path / "models", seed=1)  # another backbone under the same name
    run_stage("finetune", params)
    second = _doc(results, "pretrain-byol")
    assert second["fingerprint"]["backbone"] != first["fingerprint"]["backbone"]
    assert second["fingerprint"]["settings"] == first["fingerprint"]["settings"]
    assert second["per_seed"] != first["per_seed"]  # new numbers, not the old ones kept


def test_chance_floor_is_written_beside_the_inits_and_follows_the_data(tmp_path, synth_root):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    params = small_params(
        tmp_path, root, *ONE_POINT, "finetune.inits=[scratch]", "finetune.regimes=[0.1, 1.0]"
    )
    run_stage("finetune", params)
    results = tmp_path / "results"
    chance = _doc(results, "chance")
    assert chance["init"] == chance["mode"] == "chance" and chance["seeds"] == [0]
    assert chance["std"]["mae"] == 0.0 and chance["per_seed"] == [chance["mean"]]
    assert chance["fingerprint"]["backbone"] is None
    assert chance["subset_id"] == _doc(results, "scratch")["subset_id"]  # fitted on the same subset
    assert _doc(results, "chance", regime="0.1")["subset_size"] < chance["subset_size"]
    assert "chance" not in resolve_inits(params)

    labels = root / "faces" / "labels.parquet"
    df = pd.read_parquet(labels)
    df.loc[df["split"] == "test", "yaw"] += 5.0  # other test labels, same settings
    df.to_parquet(labels, index=False)
    run_stage("finetune", params)
    moved = _doc(results, "chance")
    assert moved["fingerprint"]["data"] != chance["fingerprint"]["data"]
    assert moved["mean"]["mae_yaw"] != pytest.approx(chance["mean"]["mae_yaw"])


def test_recognition_is_verified_on_people_unseen_in_training(tmp_path, synth_root):
    sets = [s for s in ONE_POINT if not s.startswith("finetune.tasks")] + ["finetune.tasks=[recognition]"]
    params = small_params(tmp_path, synth_root, *sets, "finetune.inits=[scratch]")
    run_stage("finetune", params)
    results = tmp_path / "results"
    for init in ("scratch", "chance"):
        doc = _doc(results, init, task="recognition")
        assert {"accuracy", "tar_far_1e-3", "closed_set_accuracy"} <= doc["mean"].keys()
    assert _doc(results, "chance", task="recognition")["mean"]["accuracy"] == pytest.approx(0.5, abs=0.05)
    saved = json.loads((results / "splits/synthfaces/identity_disjoint/ids_frac1_seed0.json").read_text())
    faces = pd.read_parquet(synth_root / "faces" / "labels.parquet").set_index("face_id")
    faces.index = faces.index.astype(str)
    trained = set(faces.loc[saved["keys"], "identity"])
    test = faces[faces["split"] == "test"]
    assert not set(test.index) & set(saved["keys"])  # no test face trains
    assert set(test["identity"]) - trained  # some test people were never trained on
