"""ONNX Runtime execution providers for the stages that run ONNX networks (detect's RetinaFace and
SCRFD, curate's ArcFace): CUDA first when asked or, with `auto`, when the installed onnxruntime has it;
a warning naming the stage when torch sees a GPU that the CPU build of onnxruntime cannot use (the
silent CPU fallback the GPU issue found); and a log line of what a session actually runs on.
"""

from __future__ import annotations

import logging

from facerep.errors import InputError

GPU_EXTRA = "pip install facerep[gpu] (onnxruntime-gpu in place of onnxruntime)"

log = logging.getLogger(__name__)


def onnx_providers(device: str) -> list[str]:
    """Execution providers for `detect.device`: CUDA when asked or, with `auto`, when present."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise InputError(
            "detect.device=cuda: onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)"
        )
    if device != "cpu" and has_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_providers(device: str, stage: str = "detect") -> list[str]:
    """`onnx_providers(device)` for a session about to be created, with a warning when the stage would
    run on the CPU although torch sees a CUDA GPU: the installed onnxruntime is the CPU build."""
    providers = onnx_providers(device)
    if device != "cpu" and providers[0] != "CUDAExecutionProvider" and torch_sees_cuda():
        log.warning(
            "%s: torch sees a CUDA GPU but onnxruntime has no CUDAExecutionProvider, so the network "
            "runs on the CPU; %s",
            stage,
            GPU_EXTRA,
        )
    return providers


def torch_sees_cuda() -> bool:
    """Whether torch sees a CUDA GPU (False when torch itself is missing)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def log_session_providers(providers: list[str], stage: str = "detect") -> None:
    """The execution providers a created session actually uses (`session.get_providers()`)."""
    log.info("%s: onnxruntime runs on %s", stage, ", ".join(providers))
