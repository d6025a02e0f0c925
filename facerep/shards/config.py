"""Parameters of the shard stage (`shard:` in pipeline_params.yaml)."""

from pydantic import Field, field_validator

from facerep.harvest.licenses import DEFAULT_ALLOWED, FLICKR_LICENSES
from facerep.paramsbase import StrictModel
from facerep.shards.licenses import normalise

SYNTHFACES_LICENSE = "SynthFaces (generated, CC0 1.0)"  # facerep.harvest.sources.synthetic.LICENSE
DEFAULT_LICENSES = [*(FLICKR_LICENSES[i] for i in DEFAULT_ALLOWED), SYNTHFACES_LICENSE]


class ShardParams(StrictModel):
    max_count: int = Field(1000, gt=0, description="samples per shard at most")
    max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="bytes of sample data per shard at most")
    licenses: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LICENSES),
        description="licences allowed into shards, re-checked here against faces.parquet and the manifest",
    )

    @field_validator("licenses")
    @classmethod
    def _no_all_rights_reserved(cls, v: list[str]) -> list[str]:
        if normalise(FLICKR_LICENSES[0]) in {normalise(x) for x in v}:
            raise ValueError("'All Rights Reserved' images may never be written to a shard")
        return v
