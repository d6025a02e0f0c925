"""Parameters of the harvest stage (`harvest:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class FolderParams(StrictModel):
    root: str | None = None


class VoxCelebParams(StrictModel):
    root: str | None = None
    fps: float = Field(6.0, gt=0)


class FlickrParams(StrictModel):
    api_url: str = "https://api.flickr.com/services/rest/"
    tags: list[str] = Field(default_factory=list)
    licenses: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    min_upload_date: str = "2005-01-01"
    max_upload_date: str = "2026-01-01"
    max_calls_per_hour: int = Field(3600, gt=0)


class HarvestParams(StrictModel):
    sources: list[str] = Field(default_factory=lambda: ["synthetic"])
    folder: FolderParams = Field(default_factory=FolderParams)
    voxceleb: VoxCelebParams = Field(default_factory=VoxCelebParams)
    flickr: FlickrParams = Field(default_factory=FlickrParams)
    max_pixels: int = Field(89_478_485, gt=0, description="decompression-bomb limit (PIL's default)")
