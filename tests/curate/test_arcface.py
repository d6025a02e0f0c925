"""The ArcFace path with a small stand-in ONNX exported from torch here, and the missing-model error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from curate_data import face_row, write_detect_output
from typer.testing import CliRunner

from facerep.cli import app
from facerep.curate.embedders import ArcFaceOnnx, export_arcface_onnx
from facerep.curate.scoring import global_features
from facerep.curate.stage import run
from facerep.errors import MissingModelError
from facerep.tracking import Tracker


@pytest.fixture(scope="module")
def standin_onnx(tmp_path_factory):
    """A 112x112 -> 64-D network in ArcFace's ONNX interface (insightface routes it as recognition)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 13 * 13, 64),
    ).eval()
    path = tmp_path_factory.mktemp("arcface") / "standin.onnx"
    return export_arcface_onnx(net, path)


def test_arcface_embeds_aligned_faces_in_batches(standin_onnx, faces):
    emb = ArcFaceOnnx(str(standin_onnx), batch_size=3)
    assert emb.size == 112 and emb.dim == 64 and "CPUExecutionProvider" in emb.providers
    feats = global_features(emb, [f.crop for f in faces], [f.landmarks5 for f in faces])
    one_by_one = [global_features(emb, [f.crop], [f.landmarks5])[0] for f in faces[:4]]
    assert feats.shape == (len(faces), 64)
    torch.testing.assert_close(
        torch.from_numpy(feats[:4]), torch.from_numpy(np.stack(one_by_one)), atol=1e-4, rtol=1e-4
    )
    sim = emb.similarity(feats, feats)
    torch.testing.assert_close(
        torch.from_numpy(sim.diagonal().copy()), torch.ones(len(faces)), atol=1e-5, rtol=0
    )


def test_curate_stage_runs_on_arcface(standin_onnx, faces, params_for, tmp_path):
    write_detect_output(tmp_path, [face_row(f, f"f{i}") for i, f in enumerate(faces[:3])])
    params = params_for(
        "curate.embedder=arcface", f"curate.arcface.model_path={standin_onnx}", "curate.local.candidates=3"
    )
    run(params, Tracker(None))
    cur = pd.read_parquet(tmp_path / "curated" / "curated.parquet")
    assert len(cur) == 3
    for boxes in cur["local_boxes"]:
        assert all(b[4] >= -0.5 for b in boxes)


def test_missing_arcface_model_names_file_source_and_parameter(tmp_path):
    with pytest.raises(MissingModelError) as err:
        ArcFaceOnnx(str(tmp_path / "w600k_r50.onnx"))
    text = str(err.value)
    assert "w600k_r50.onnx" in text and "buffalo_l" in text and "curate.arcface.model_path" in text


def test_missing_arcface_model_exits_2_from_the_cli(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "curate",
            "--set",
            "curate.embedder=arcface",
            "--set",
            f"curate.arcface.model_path={tmp_path}/none.onnx",
            "--set",
            f"paths.faces={tmp_path}/faces",
            "--set",
            "tracking.enabled=false",
        ],
    )
    assert result.exit_code == 2
    assert "w600k_r50.onnx" in result.output and "curate.arcface.model_path" in result.output
