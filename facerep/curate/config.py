"""Parameters of the curate stage (`curate:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class LocalCropParams(StrictModel):
    candidates: int = Field(16, gt=0)
    scale: tuple[float, float] = (0.05, 0.4)
    theta: float = -0.5
    min_kept: int = Field(2, ge=0)


class DedupParams(StrictModel):
    threshold: float = 0.95


class CurateParams(StrictModel):
    local: LocalCropParams = Field(default_factory=LocalCropParams)
    dedup: DedupParams = Field(default_factory=DedupParams)
