"""Parameters of the finetune stage (`finetune:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class FinetuneParams(StrictModel):
    tasks: list[str] = Field(default_factory=lambda: ["expression", "attributes", "landmarks", "au", "recognition", "pose", "valence_arousal"])
    regimes: list[float] = Field(default_factory=lambda: [0.02, 0.10, 1.0])
    seeds: int = Field(3, gt=0)
