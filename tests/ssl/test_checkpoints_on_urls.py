"""Pre-training checkpoints on an fsspec URL: a real FTP server on the loopback interface (pyftpdlib).

The pretrain stage writes its three files there and logs the backbone to MLflow from a local copy, a
run resumed from the remote `last.ckpt` repeats the uninterrupted losses, and the finetune stage's
`pretrain:<method>` init finds and loads the remote backbone.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch

from facerep.downstream.inits import load_init, resolve_inits
from facerep.errors import InputError
from facerep.ssl.backbones import load_backbone
from facerep.ssl.engine import Engine
from facerep.ssl.stage import data_root, output_dir
from facerep.stages import run_stage
from facerep.storage import URLPath, read_bytes, write_bytes_atomic

FAST = [
    "pretrain.method=swav",
    "pretrain.swav.crops.local_count=2",
    "pretrain.swav.prototypes=50",
    "pretrain.swav.freeze_prototypes_steps=1",
    "pretrain.swav.queue_length=32",
    "pretrain.deterministic=true",
]


def features(net: torch.nn.Module) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return net(torch.linspace(-1, 1, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64))


def test_stage_writes_to_a_url_and_finetune_loads_the_remote_backbone(params_for, ftp, tmp_path) -> None:
    url, served = ftp
    remote = params_for(*FAST, "pretrain.max_steps=2", f"paths.models={url}/models")
    result = run_stage("pretrain", remote)
    out = output_dir(remote)
    assert isinstance(out, URLPath)
    on_server = served / "models" / "pretrain" / "swav"
    assert sorted(p.name for p in on_server.iterdir()) == ["backbone.pt", "last.ckpt", "metrics.json"]
    metrics = json.loads(read_bytes(out / "metrics.json"))
    assert metrics["steps"] == 2 and metrics["final_loss"] == pytest.approx(result.metrics["final_loss"])
    assert "secret" not in " ".join(map(str, result.outputs))  # summaries show the URL, not the password

    # MLflow got the backbone read from the URL and registered it.
    mlflow.set_tracking_uri(remote.tracking.uri)
    registered = mlflow.pytorch.load_model("models:/facerep-backbone@swav")
    images = torch.linspace(-1, 1, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(registered(images), features(load_backbone(out / "backbone.pt")))

    # The same run on a local folder trains the same backbone; the finetune init loads the remote one.
    local = params_for(*FAST, "pretrain.max_steps=2", "tracking.enabled=false")
    run_stage("pretrain", local)
    assert json.loads((output_dir(local) / "metrics.json").read_text())["final_loss"] == pytest.approx(
        metrics["final_loss"], rel=1e-5
    )
    assert resolve_inits(remote) == ["scratch", "pretrain:swav"]
    assert load_init(remote, "scratch").arch == "resnet_tiny"  # the architecture read from the remote file
    torch.testing.assert_close(
        features(load_init(remote, "pretrain:swav")),
        features(load_backbone(output_dir(local) / "backbone.pt")),
    )


def test_missing_remote_backbone_is_an_input_error_naming_the_url(params_for, ftp) -> None:
    url, _ = ftp
    params = params_for(f"paths.models={url}/models", "tracking.enabled=false")
    assert resolve_inits(params) == ["scratch"]
    port = url.rsplit(":", 1)[1]
    where = rf"ftp://facerep:\*\*\*@127\.0\.0\.1:{port}/models/pretrain/byol/backbone\.pt"
    with pytest.raises(InputError, match=rf"{where}: backbone file not found"):
        load_init(params, "pretrain:byol")


def test_resume_from_a_remote_checkpoint_repeats_the_uninterrupted_losses(params_for, ftp) -> None:
    """As tests/ssl/test_train.py: run A trains 6 steps into the URL; run B, in another remote folder,
    starts from A's step-3 checkpoint, copied there while A runs step 4."""
    url, _ = ftp
    sets = [*FAST, "pretrain.max_steps=6", "pretrain.checkpoint_every=3", "tracking.enabled=false"]
    a = params_for(*sets, f"paths.models={url}/a")
    b = params_for(*sets, f"paths.models={url}/b")
    saved: list[int] = []

    def keep_step3(metrics: dict[str, float], step: int) -> None:
        if step == 4:  # the step-3 checkpoint is on the server, step 4's is not yet
            write_bytes_atomic(output_dir(b) / "last.ckpt", read_bytes(output_dir(a) / "last.ckpt"))
            saved.append(step)

    def engine(params, **kwargs) -> Engine:
        return Engine(params.pretrain, data_root(params), output_dir(params), seed=params.seed, **kwargs)

    full = engine(a, log=keep_step3).fit()
    assert saved == [4]
    resumed = engine(b).fit()
    assert resumed.start_step == 3
    np.testing.assert_allclose(resumed.losses, full.losses[3:], rtol=1e-5)
    again = engine(b).fit()  # finished: nothing more to do, the remote outputs are still there
    assert again.losses == [] and again.steps == 6
    torch.testing.assert_close(  # load_backbone also takes the URL as a string
        features(load_backbone(output_dir(b) / "backbone.pt")),
        features(load_backbone(f"{url}/a/pretrain/swav/backbone.pt")),
    )
