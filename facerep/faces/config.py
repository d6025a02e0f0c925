"""Parameters of the detect stage (`detect:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class CropParams(StrictModel):
    size: int = Field(256, gt=0)
    face_px: int = Field(190, gt=0)


class DetectParams(StrictModel):
    backend: str = "retinaface_mobile"
    batch_size: int = Field(8, gt=0)
    crop: CropParams = Field(default_factory=CropParams)
