"""ONNX Runtime providers of the detect stage: CUDA first only when onnxruntime has it and the device
allows it, the providers a session uses are logged, and a CPU-only onnxruntime beside a CUDA GPU
(torch sees one) is a warning naming the stage and the gpu extra."""

from __future__ import annotations

import logging

import onnxruntime as ort
import pytest
import torch

from facerep import onnx_providers as providers_module
from facerep.faces.retinaface_mobile import RetinaFaceMobile
from facerep.onnx_providers import onnx_providers, session_providers

LOGGER = "facerep.onnx_providers"
cpu_onnxruntime = pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="onnxruntime-gpu installed"
)


@cpu_onnxruntime
@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_the_cpu_build_chooses_the_cpu_without_a_warning_when_torch_has_no_cuda(
    device, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert session_providers(device) == ["CPUExecutionProvider"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@cpu_onnxruntime
def test_a_cuda_gpu_with_the_cpu_build_is_a_warning_naming_stage_and_extra(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert session_providers("auto") == ["CPUExecutionProvider"]
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert text.startswith("detect: torch sees a CUDA GPU")
    assert "pip install facerep[gpu]" in text and "onnxruntime-gpu" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):  # asked for the CPU: nothing to warn about
        session_providers("cpu")
    assert not caplog.records


def test_cuda_comes_first_when_onnxruntime_has_it(monkeypatch, caplog) -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert session_providers("auto") == available
        assert session_providers("cuda") == available
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert not caplog.records


def test_the_session_logs_the_providers_it_uses(monkeypatch, caplog) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        detector = RetinaFaceMobile(device="cpu")
    used = detector.session.get_providers()
    assert used == ["CPUExecutionProvider"]
    assert f"detect: onnxruntime runs on {used[0]}" in caplog.text
    assert providers_module.log.name == LOGGER
