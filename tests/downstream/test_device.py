"""`finetune.device` and `finetune.precision`: auto picks CUDA only when torch sees it, an absent
accelerator is an error naming the key, and autocast trainings run (bf16, fp16 with its scaler)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch
from downstream_fixtures import small_params
from typer.testing import CliRunner

from facerep.cli import app
from facerep.downstream.config import FinetuneParams
from facerep.downstream.datasets import load_dataset
from facerep.downstream.device import Runtime, default_workers, resolve_device, runtime
from facerep.downstream.tasks.landmarks import Landmarks
from facerep.downstream.train import HParams, TrainSpec, evaluate, fit
from facerep.errors import InputError
from facerep.ssl.backbones import build_backbone

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_auto_is_cuda_only_when_torch_sees_it():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@no_cuda
def test_an_absent_accelerator_is_an_error_naming_the_key(tmp_path, synth_root):
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(
            InputError, match=rf"finetune\.device: '{spec}' asked for, but torch sees no CUDA"
        ):
            resolve_device(spec)
    params = small_params(tmp_path, synth_root, "finetune.device=cuda")
    with pytest.raises(InputError, match=r"finetune\.device"):
        runtime(params.finetune)
    if not torch.backends.mps.is_available():
        with pytest.raises(InputError, match=r"finetune\.device: 'mps'"):
            resolve_device("mps")


def test_a_bad_device_value_names_the_key(tmp_path, synth_root):
    with pytest.raises(InputError, match=r"finetune\.device"):
        small_params(tmp_path, synth_root, "finetune.device=gpu")


def test_precision_follows_the_pretrain_rule(tmp_path, synth_root):
    on_cpu = runtime(small_params(tmp_path, synth_root, "finetune.device=cpu").finetune)
    assert on_cpu.device == torch.device("cpu") and on_cpu.dtype is None and on_cpu.precision == "fp32"
    assert runtime(FinetuneParams(device="cpu")).num_workers == 0  # by default: the CPU's cores train
    if torch.cuda.is_available():
        assert default_workers(torch.device("cuda")) >= 1
    bf16 = runtime(
        small_params(tmp_path, synth_root, "finetune.device=cpu", "finetune.precision=bf16").finetune
    )
    assert bf16.dtype == torch.bfloat16 and bf16.precision == "bf16"
    linear = small_params(tmp_path, synth_root, "finetune.mode=linear")
    assert runtime(linear.finetune).augment is None  # probes are never augmented
    finetune = small_params(tmp_path, synth_root, "finetune.mode=finetune")
    assert runtime(finetune.finetune).augment == finetune.finetune.augment


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_fine_tuning_trains(synth_root, dtype):
    data = load_dataset("synthfaces", synth_root, 32, 48, 16)
    task = Landmarks(width=16)
    torch.manual_seed(0)
    backbone = build_backbone("resnet_tiny")
    run = Runtime(dtype=dtype)
    spec = TrainSpec(batch_size=8, weight_decay=0.0, run=run)
    model = fit(task, backbone, data, data.train, HParams(3e-3, 4, 1.0), spec, seed=0)
    trained = dict(model.backbone.named_parameters())
    moved = [n for n, p in backbone.named_parameters() if not torch.equal(p, trained[n])]
    assert moved and all(p.dtype == torch.float32 for p in trained.values())  # autocast keeps fp32 weights
    assert np.isfinite(evaluate(model, data.test, data)["nme"])


def _cli_finetune(tmp_path, synth_root, device: str, *extra: str):
    """`facerep finetune --set ...` on two small fine-tuning points (scratch, all labels)."""
    sets = [
        f"paths.synth={synth_root}",
        f"paths.results={tmp_path / device / 'results'}",
        f"paths.metrics={tmp_path / device / 'metrics'}",  # the CLI writes the DVC metrics file
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / device / 'mlflow.db'}",
        "tracking.system_metrics=false",
        "finetune.backbone=resnet_tiny",
        "finetune.heatmap_width=16",
        "finetune.image_size=32",
        "finetune.max_train=48",
        "finetune.max_test=16",
        "finetune.batch_size=8",
        "finetune.mode=finetune",
        "finetune.tasks=[landmarks, pose]",
        "finetune.inits=[scratch]",
        "finetune.regimes=[1.0]",
        "finetune.seeds=1",
        "finetune.search.enabled=false",
        "finetune.search.steps=[4]",
        "finetune.num_workers=2",  # the stage's faces through DataLoader workers (CPU default: none)
        f"finetune.device={device}",
        *extra,
    ]
    return CliRunner().invoke(app, ["finetune", *[arg for s in sets for arg in ("--set", s)]])


def test_facerep_finetune_on_cpu_and_auto_runs_the_same_points(tmp_path, synth_root):
    docs = {}
    for device in ("cpu", "auto"):
        result = _cli_finetune(tmp_path, synth_root, device)
        assert result.exit_code == 0, result.output
        found = sorted((tmp_path / device / "results/finetune").glob("*/synthfaces/scratch/1/metrics.json"))
        docs[device] = {p.parts[-5]: json.loads(p.read_text())["per_seed"] for p in found}
        client = mlflow.MlflowClient(f"sqlite:///{tmp_path / device / 'mlflow.db'}")
        runs = client.search_runs([client.get_experiment_by_name("facerep").experiment_id])
        (stage,) = [r for r in runs if r.data.tags.get("facerep.stage") == "finetune"]
        assert stage.data.params["finetune.device"] == device
        assert stage.data.params["finetune.resolved_device"] == str(resolve_device(device))
        gpu = resolve_device(device).type == "cuda"
        assert stage.data.params["finetune.resolved_precision"] == ("bf16" if gpu else "fp32")
        assert stage.data.params["finetune.resolved_num_workers"] == "2"
    assert set(docs["cpu"]) == {"landmarks", "pose"}
    if not torch.cuda.is_available():  # auto is the CPU here: the same numbers
        assert docs["cpu"] == docs["auto"]


@no_cuda
def test_facerep_finetune_on_an_absent_gpu_fails_naming_the_key(tmp_path, synth_root):
    result = _cli_finetune(tmp_path, synth_root, "cuda", "tracking.enabled=false")
    assert result.exit_code == 2 and "finetune.device" in result.output
