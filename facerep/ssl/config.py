"""Parameters of the pretrain stage (`pretrain:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class PretrainParams(StrictModel):
    method: str = "swav"
    backbone: str = "resnet18_small"
    max_steps: int = Field(200, gt=0)
