"""RetinaFace ResNet-50: the module's state dict has the published checkpoint's layout, loads the
released file formats strictly, and runs through facerep's batched path."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import resnet50

from facerep.errors import InputError, MissingModelError
from facerep.faces.batching import letterbox_pixels, resize_longest
from facerep.faces.postprocess import Selection
from facerep.faces.priors import prior_boxes
from facerep.faces.retinaface_resnet import (
    RetinaFaceNet,
    RetinaFaceResNet50,
    load_network,
    read_state_dict,
    resolve_weights,
)


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    keys = {f"{prefix}.{n}": (channels,) for n in ("weight", "bias", "running_mean", "running_var")}
    return {**keys, f"{prefix}.num_batches_tracked": ()}


def _conv_bn(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.0.weight": (cout, cin, k, k), **_bn(f"{prefix}.1", cout)}


def published_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of `retinaface_resnet50_2020-07-20`, derived from ternaus/retinaface's public
    network.py / net.py / configs/2020-07-20.yaml: `body` is torchvision's ResNet-50 behind
    IntermediateLayerGetter (everything up to layer4, no fc), FPN in_channels 512/1024/2048 -> 256,
    SSH 256 -> 128 + 64 + 64 (with the `conv7x7_3` spelling), heads with 2 anchors per cell."""
    body = {
        f"body.{k}": tuple(v.shape) for k, v in resnet50().state_dict().items() if not k.startswith("fc.")
    }
    layout = dict(body)
    for i, cin in zip((1, 2, 3), (512, 1024, 2048), strict=True):
        layout.update(_conv_bn(f"fpn.output{i}", cin, 256, 1))
    for i in (1, 2):
        layout.update(_conv_bn(f"fpn.merge{i}", 256, 256, 3))
    for s in ("ssh1", "ssh2", "ssh3"):
        layout.update(_conv_bn(f"{s}.conv3X3", 256, 128, 3))
        layout.update(_conv_bn(f"{s}.conv5X5_1", 256, 64, 3))
        layout.update(_conv_bn(f"{s}.conv5X5_2", 64, 64, 3))
        layout.update(_conv_bn(f"{s}.conv7X7_2", 64, 64, 3))
        layout.update(_conv_bn(f"{s}.conv7x7_3", 64, 64, 3))
    for head, per_anchor in (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10)):
        for i in range(3):
            layout[f"{head}.{i}.conv1x1.weight"] = (2 * per_anchor, 256, 1, 1)
            layout[f"{head}.{i}.conv1x1.bias"] = (2 * per_anchor,)
    return layout


@pytest.fixture(scope="module")
def net() -> RetinaFaceNet:
    torch.manual_seed(0)
    return RetinaFaceNet().eval()


def test_state_dict_matches_the_published_layout(net):
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    expected = published_layout()
    assert sorted(set(ours) ^ set(expected)) == []
    assert ours == expected


def test_outputs_follow_the_prior_order(net):
    with torch.inference_mode():
        loc, cls, landm = net(torch.zeros(1, 3, 64, 96))
    p = len(prior_boxes(64, 96))
    assert loc.shape == (1, p, 4) and cls.shape == (1, p, 2) and landm.shape == (1, p, 10)


def _save_release_zip(net: RetinaFaceNet, path: Path) -> None:
    """The release's format: a zip holding one legacy-format .pth, as torch.hub's load_url reads it."""
    pth = path.with_suffix(".pth")
    torch.save(net.state_dict(), pth, _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(pth, "retinaface_resnet50_2020-07-20.pth")
    pth.unlink()


def test_release_zip_and_pth_load_strictly(net, tmp_path):
    release = tmp_path / "retinaface_resnet50_2020-07-20-f168fae3c.zip"
    _save_release_zip(net, release)
    loaded, layout = load_network(release)
    assert layout == "ternaus"
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    training = tmp_path / "epoch=149.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}}, training)
    assert read_state_dict(training).keys() == net.state_dict().keys()


def test_wrong_checkpoint_names_the_first_bad_key(net, tmp_path):
    state = net.state_dict()
    state["ssh1.conv7X7_3.0.weight"] = state.pop("ssh1.conv7x7_3.0.weight")
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(InputError, match=r"ssh1\.conv7"):
        load_network(bad)


def test_biubug6_checkpoint_is_recognised_by_its_keys_and_gets_its_own_input(net, tmp_path):
    """Pytorch_Retinaface's Resnet50_Final.pth: DataParallel's `module.` prefix on every key, BGR minus
    (104, 117, 123). It loads strictly into the same modules; the backend feeds it BGR, mean only."""
    biubug6 = tmp_path / "Resnet50_Final.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, biubug6)
    loaded, layout = load_network(biubug6)
    assert layout == "biubug6"
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert load_network(biubug6, layout="ternaus")[1] == "ternaus"  # the parameter overrides the keys
    backend = RetinaFaceResNet50(loaded, Selection(0.5), input_size=64, device="cpu", layout=layout)
    canvas = letterbox_pixels([resize_longest(np.full((64, 64, 3), (200, 100, 50), np.uint8), 64)], True)
    assert canvas.pixels[0, 0, 0].tolist() == [50, 100, 200]  # BGR
    x = backend.device_input(canvas)
    assert x[0, :, 0, 0].tolist() == [50 - 104.0, 100 - 117.0, 200 - 123.0]
    ternaus = RetinaFaceResNet50(loaded, Selection(0.5), input_size=64, device="cpu")
    assert ternaus.normalisation.std != (1.0, 1.0, 1.0) and not ternaus.normalisation.bgr


def test_downloads_are_checked_against_the_published_sha256(net, tmp_path, monkeypatch):
    """A URL's file is fetched (loopback server) into torch's hub cache and checked on every use
    against the hash its name publishes (torch.hub's convention) or `detect.retinaface.sha256`; a
    mismatch removes the download and names file and expected hash; a URL publishing none is refused."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    served = tmp_path / "served"
    served.mkdir()
    torch.save(net.state_dict(), served / "r50.pth")
    digest = hashlib.sha256((served / "r50.pth").read_bytes()).hexdigest()
    (served / f"r50-{digest[:10]}.pth").write_bytes((served / "r50.pth").read_bytes())
    (served / "r50-0123456789.pth").write_bytes((served / "r50.pth").read_bytes())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        good = resolve_weights(f"{base}/r50-{digest[:10]}.pth")
        assert good.parent == tmp_path / "torch" / "hub" / "checkpoints"
        assert load_network(good)[1] == "ternaus"
        assert resolve_weights(f"{base}/r50.pth", sha256=digest) == good.parent / "r50.pth"
        with pytest.raises(
            InputError,
            match=r"r50-0123456789\.pth: SHA-256 [0-9a-f]{64} does not match "
            r"the published 0123456789 \(the download was removed",
        ):
            resolve_weights(f"{base}/r50-0123456789.pth")
        assert not (good.parent / "r50-0123456789.pth").exists()
        (good.parent / "r50.pth").write_bytes(b"truncated")  # a damaged cache is caught on use
        with pytest.raises(InputError, match="does not match"):
            resolve_weights(f"{base}/r50.pth", sha256=digest)
        with pytest.raises(InputError, match="no SHA-256 is published"):
            resolve_weights(f"{base}/r50.pth")
    finally:
        server.shutdown()
    local = served / "r50.pth"  # a user's own file is checked when a hash is given, never deleted
    with pytest.raises(InputError, match="a different or damaged file"):
        resolve_weights(str(local), sha256="0" * 64)
    assert local.is_file()


def test_a_wrong_hash_stops_the_stage_with_exit_status_2(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from facerep.cli import app

    weights = tmp_path / "r50.pth"
    weights.write_bytes(b"not the release")
    raw = tmp_path / "raw"
    raw.mkdir()
    manifest = pd.DataFrame({"image_id": ["a"], "path": ["a.jpg"], "status": ["ok"]})
    manifest.to_parquet(raw / "manifest.parquet")
    sets = {
        "detect.backend": "retinaface",
        "detect.retinaface.weights": weights,
        "detect.retinaface.sha256": "a" * 64,
        "paths.raw": raw,
        "paths.faces": tmp_path / "faces",
        "tracking.enabled": "false",
    }
    result = CliRunner().invoke(app, ["detect", *(a for k, v in sets.items() for a in ("--set", f"{k}={v}"))])
    assert result.exit_code == 2, result.output
    assert "r50.pth: SHA-256" in result.output and "a" * 64 in result.output
    assert weights.read_bytes() == b"not the release"


def test_missing_local_weights_name_file_source_and_parameter(tmp_path):
    with pytest.raises(MissingModelError) as err:
        resolve_weights(str(tmp_path / "retinaface.zip"))
    msg = str(err.value)
    assert "retinaface.zip" in msg and "github.com/ternaus/retinaface" in msg
    assert "detect.retinaface.weights" in msg


def test_batched_detection_runs_on_cpu(net):
    """Random weights find nothing meaningful; the path must still return one result per image."""
    detector = RetinaFaceResNet50(net, Selection(threshold=0.99), input_size=96, batch_size=2, device="cpu")
    images = [
        np.zeros((60, 80, 3), np.uint8),
        np.zeros((90, 40, 3), np.uint8),
        np.zeros((30, 30, 3), np.uint8),
    ]
    out = detector.detect(images)
    assert len(out) == 3 and all(d.boxes.shape[1:] == (4,) for d in out)
