"""Parameters of the detect stage (`detect:` in pipeline_params.yaml)."""

from typing import Literal

from pydantic import Field, model_validator

from facerep.paramsbase import StrictModel

RETINAFACE_RESNET50_URL = "https://github.com/ternaus/retinaface/releases/download/0.01/retinaface_resnet50_2020-07-20-f168fae3c.zip"


class CropParams(StrictModel):
    """The crop of Bulat et al. (A.1): the face spans `face_px` of a `size` x `size` JPEG."""

    size: int = Field(256, gt=0, description="crop side in px")
    face_px: int = Field(190, gt=0, description="face box side inside the crop in px")
    padding: Literal["edge", "constant"] = Field("edge", description="fill where the crop leaves the image")

    @model_validator(mode="after")
    def _face_fits(self) -> "CropParams":
        if self.face_px > self.size:
            raise ValueError(f"face_px {self.face_px} exceeds crop size {self.size}")
        return self


class RetinaFaceParams(StrictModel):
    """Where the RetinaFace ResNet-50 weights come from (retinaface-pytorch, 2020-07-20 release)."""

    weights: str = Field(RETINAFACE_RESNET50_URL, description="URL or local path of the checkpoint")
    sha256: str | None = Field(
        None,
        description="published SHA-256 (or its first 8+ hex digits) a downloaded `weights` must have; "
        "null: the prefix in the URL's file name (torch.hub's convention), and a URL without one is refused",
    )
    layout: Literal["auto", "ternaus", "biubug6"] = Field(
        "auto",
        description="whose checkpoint: ternaus/retinaface (RGB, ImageNet mean/std) or biubug6/"
        "Pytorch_Retinaface (BGR minus (104, 117, 123)); auto: biubug6 when every key has the `module.` "
        "prefix of its DataParallel training, else ternaus",
    )


class ScrfdParams(StrictModel):
    """insightface SCRFD (det_10g.onnx of buffalo_l): a local file, insightface downloads need a network."""

    model: str = Field("~/.insightface/models/buffalo_l/det_10g.onnx", description="local ONNX path")


class DetectParams(StrictModel):
    """Detector choice, its thresholds, batching and the crop geometry."""

    backend: Literal["retinaface", "retinaface_mobile", "scrfd"] = Field(
        "retinaface_mobile",
        description="retinaface (ResNet-50, the design card's detector) | retinaface_mobile "
        "(MobileNet-0.25 ONNX, runs offline) | scrfd (insightface det_10g ONNX)",
    )
    batch_size: int = Field(8, gt=0, description="images per forward pass")
    input_size: int = Field(640, ge=32, description="letterbox: longer image side at the network input")
    threshold: float = Field(0.6, gt=0.0, lt=1.0, description="minimum face confidence (biubug6 vis_thres)")
    nms_iou: float = Field(0.4, gt=0.0, le=1.0, description="NMS IoU threshold")
    min_face_px: int = Field(20, ge=0, description="drop faces whose longer box side is smaller (source px)")
    max_faces: int = Field(50, gt=0, description="keep at most this many faces per image (highest scores)")
    jpeg_quality: int = Field(95, ge=1, le=100, description="JPEG quality of the crops")
    workers: int | None = Field(
        None, ge=1, description="threads decoding images and encoding crops; null: the cores available"
    )
    chunk_size: int = Field(64, gt=0, description="images per resumable chunk of faces.parquet")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="auto (CUDA when available to the backend: torch, or onnxruntime's "
        "CUDAExecutionProvider) | cpu | cuda (an error when CUDA is missing)",
    )
    crop: CropParams = Field(
        default_factory=CropParams,
        description="crop geometry: the face spans face_px of a size x size JPEG (Bulat et al. A.1)",
    )
    retinaface: RetinaFaceParams = Field(
        default_factory=RetinaFaceParams, description="the retinaface backend's ResNet-50 weights"
    )
    scrfd: ScrfdParams = Field(default_factory=ScrfdParams, description="the scrfd backend's ONNX model")
