"""GPU runs switch on TF32 and cuDNN's benchmark mode (`facerep.ssl.engine.cuda_speedups`), in
pre-training and in fine-tuning; CPU runs leave the process-wide flags alone."""

from __future__ import annotations

import pytest
import torch

import facerep.downstream.device as downstream_device
from facerep.downstream.config import FinetuneParams
from facerep.ssl.engine import cuda_speedups


def flags() -> tuple[bool, bool, bool]:
    return (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )


@pytest.fixture
def cleared_flags():
    """All three flags off for the test, restored afterwards."""
    saved = flags()
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    ) = saved


def test_a_cuda_device_gets_tf32_and_cudnn_benchmark(cleared_flags) -> None:
    cuda_speedups(torch.device("cuda", 0))
    assert flags() == (True, True, True)


def test_a_deterministic_cuda_run_keeps_benchmark_off(cleared_flags) -> None:
    cuda_speedups(torch.device("cuda"), deterministic=True)
    assert flags() == (False, True, True)


def test_the_cpu_leaves_the_flags_alone(cleared_flags) -> None:
    cuda_speedups(torch.device("cpu"))
    assert flags() == (False, False, False)
    torch.backends.cudnn.benchmark = True
    cuda_speedups(torch.device("cpu"), deterministic=True)
    assert flags() == (True, False, False)


def test_finetune_runtime_on_cuda_switches_them_on(cleared_flags, monkeypatch) -> None:
    downstream_device.runtime(FinetuneParams(device="cpu"))
    assert flags() == (False, False, False)
    monkeypatch.setattr(downstream_device, "resolve_device", lambda spec: torch.device("cuda"))
    run = downstream_device.runtime(FinetuneParams(device="cuda"))
    assert run.device.type == "cuda"
    assert flags() == (True, True, True)
