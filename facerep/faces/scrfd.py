"""Optional backend: SCRFD (Guo et al., *Sample and Computation Redistribution for Efficient Face
Detection*, ICLR 2022) through insightface, for users who have buffalo_l's `det_10g.onnx`.

insightface's `SCRFD` runs one image at a time with its own letterbox and decoding, so this backend is
a thin loop; its scores and boxes then pass through facerep's `select_faces` so `detect.min_face_px`
and `detect.max_faces` mean what they mean for RetinaFace. insightface downloads models at run time,
which is impossible offline: the file must be present at `detect.scrfd.model`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.errors import MissingModelError
from facerep.faces.batching import Prepared
from facerep.faces.config import DetectParams
from facerep.faces.detector import Detections, Detector
from facerep.faces.postprocess import Selection, select_faces
from facerep.onnx_providers import log_session_providers, session_providers

BUFFALO_L_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"


class Scrfd(Detector):
    """insightface SCRFD over a list of RGB images."""

    name = "scrfd"

    def __init__(
        self, model: Path, selection: Selection, input_size: int = 640, device: str = "auto"
    ) -> None:
        from insightface.model_zoo.scrfd import SCRFD

        if not model.is_file():
            raise MissingModelError(f"{model} (det_10g.onnx)", BUFFALO_L_URL, "detect.scrfd.model")
        self.selection = selection
        self.model = SCRFD(model_file=str(model))
        ctx = 0 if session_providers(device)[0] == "CUDAExecutionProvider" else -1
        self.model.prepare(ctx, input_size=(input_size, input_size), det_thresh=selection.threshold)
        log_session_providers(self.model.session.get_providers())

    @classmethod
    def from_params(cls, params: DetectParams) -> Scrfd:
        selection = Selection(params.threshold, params.nms_iou, params.min_face_px, params.max_faces)
        return cls(Path(params.scrfd.model).expanduser(), selection, params.input_size, params.device)

    def detect_prepared(self, batch: list[Prepared]) -> list[Detections]:
        out = []
        for p in batch:
            dets, kps = self.model.detect(np.ascontiguousarray(p.image[..., ::-1]))
            kps = np.zeros((len(dets), 5, 2), np.float32) if kps is None else kps
            out.append(select_faces(dets[:, :4], dets[:, 4], kps, self.selection))
        return out
