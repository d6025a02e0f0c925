"""Parameters of the shard stage (`shard:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class ShardParams(StrictModel):
    max_count: int = Field(1000, gt=0)
    max_bytes: int = Field(256 * 1024 * 1024, gt=0)
