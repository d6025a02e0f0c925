"""Backend selection through `detect.backend`, and the missing-weights errors through the CLI."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from facerep.errors import InputError, MissingModelError
from facerep.faces.detector import build_detector
from facerep.faces.retinaface_mobile import RetinaFaceMobile
from facerep.io import sha256_file
from facerep.params import load_params

from .conftest import write_manifest


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerep", "detect", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def release_zip(tmp_path) -> Path:
    """A checkpoint in the release's format (random weights: the layout is what is tested)."""
    from facerep.faces.retinaface_resnet import RetinaFaceNet

    pth = tmp_path / "weights.pth"
    torch.save(RetinaFaceNet().state_dict(), pth)
    path = tmp_path / "serve" / "retinaface_resnet50_2020-07-20-f168fae3c.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(pth, "retinaface_resnet50_2020-07-20.pth")
    return path


@pytest.fixture
def loopback(release_zip):
    """An HTTP server on 127.0.0.1 serving the release zip's folder (404 for anything else)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(release_zip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_default_backend_is_the_offline_mobile_model():
    assert isinstance(build_detector(load_params(None, []).detect), RetinaFaceMobile)


def test_unknown_backend_is_a_parameter_error():
    with pytest.raises(InputError, match=r"detect\.backend"):
        load_params(None, ["detect.backend=mtcnn"])


def test_retinaface_backend_from_a_local_release_file(release_zip):
    from facerep.faces.retinaface_resnet import RetinaFaceResNet50

    params = load_params(None, ["detect.backend=retinaface", f"detect.retinaface.weights={release_zip}"])
    detector = build_detector(params.detect)
    assert isinstance(detector, RetinaFaceResNet50) and detector.name == "retinaface"


def test_retinaface_weights_from_a_url_cached_and_checked(loopback, release_zip, tmp_path, monkeypatch):
    from facerep.faces.retinaface_resnet import RetinaFaceResNet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = f"{loopback}/retinaface_resnet50_2020-07-20-f168fae3c.zip"
    # A stand-in under the release's name: its own hash, not the release's f168fae3c, is the published one.
    sha = f"detect.retinaface.sha256={sha256_file(release_zip)}"
    params = load_params(None, ["detect.backend=retinaface", f"detect.retinaface.weights={url}", sha])
    assert isinstance(build_detector(params.detect), RetinaFaceResNet50)
    assert (tmp_path / "torch" / "hub" / "checkpoints" / Path(url).name).is_file()


def test_unreachable_weights_url_is_a_missing_model(loopback, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = f"{loopback}/absent-0123abcd.zip"
    params = load_params(None, ["detect.backend=retinaface", f"detect.retinaface.weights={url}"])
    with pytest.raises(MissingModelError, match=r"absent-0123abcd\.zip.*detect\.retinaface\.weights"):
        build_detector(params.detect)


def test_scrfd_without_its_model_is_a_missing_model(tmp_path):
    params = load_params(None, ["detect.backend=scrfd", f"detect.scrfd.model={tmp_path / 'det_10g.onnx'}"])
    with pytest.raises(MissingModelError, match=r"det_10g\.onnx.*buffalo_l.*detect\.scrfd\.model"):
        build_detector(params.detect)


def test_cli_missing_weights_exits_2_naming_file_source_and_parameter(tmp_path, group_photo_path):
    write_manifest(tmp_path / "data" / "raw", [("group", str(group_photo_path), "ok")])
    proc = cli(
        "--set",
        "detect.backend=retinaface",
        "--set",
        f"detect.retinaface.weights={tmp_path / 'weights' / 'retinaface_resnet50.zip'}",
        "--set",
        "tracking.enabled=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert "retinaface_resnet50.zip" in err
    assert "https://github.com/ternaus/retinaface/releases" in err
    assert "detect.retinaface.weights" in err
