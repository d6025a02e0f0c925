"""Parameters of the harvest stage (`harvest:` in pipeline_params.yaml).

Defaults are offline-safe: the default source is `synthetic` (SynthFaces under `paths.synth`), the
VoxCeleb downloader is off, and the Flickr API key is never a parameter (env `FLICKR_API_KEY` only).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from facerep.harvest.flickr_tags import BULAT_TAGS
from facerep.harvest.licenses import DEFAULT_ALLOWED, FLICKR_LICENSES
from facerep.paramsbase import StrictModel

SOURCES = ("flickr", "voxceleb", "folder", "synthetic")


class FolderParams(StrictModel):
    """A local directory tree of jpg/png/webp files."""

    root: str | None = Field(None, description="directory to harvest (required when `folder` is a source)")
    license: str | None = Field(
        None,
        description="licence name recorded on every row, e.g. 'CC BY 4.0' (null: none; shard refuses them)",
    )


class VoxCelebParams(StrictModel):
    """VoxCeleb-style talking-head clips decoded to frames (PCL section 4.1: 6 fps, centre crop)."""

    root: str | None = Field(None, description="VoxCeleb2-layout tree: idNNNNN/<video_id>/NNNNN.mp4")
    fps: float = Field(6.0, gt=0, description="frames extracted per second of video")
    crop: float = Field(
        0.8, gt=0, le=1, description="centre crop side as a fraction of the shorter frame side (PCL 4.1)"
    )
    size: int | None = Field(None, gt=0, description="resize crops to size x size px (null: keep)")
    jpeg_quality: int = Field(95, ge=1, le=100)
    metadata: str | None = Field(
        None, description="VoxCeleb1/2 metadata txt tree: <speaker>/<youtube id>/<clip>.txt"
    )
    videos: str | None = Field(None, description="local source videos <youtube id>.mp4 for `metadata`")
    track_scale: float = Field(1.5, gt=0, description="square face-track crop side over the box side")
    metadata_fps: float = Field(25.0, gt=0, description="frame rate the metadata frame numbers refer to")
    download: bool = Field(False, description="fetch missing source videos with yt-dlp (needs network)")
    license: str | None = Field(
        None, description="licence name recorded on every row (null: none; shard refuses them)"
    )


class FlickrParams(StrictModel):
    """The flickr.photos.search harvester (Bulat et al. appendix C)."""

    api_url: str = "https://api.flickr.com/services/rest/"
    tags: list[str] = Field(default_factory=lambda: list(BULAT_TAGS))
    licenses: list[int] = Field(default_factory=lambda: list(DEFAULT_ALLOWED))
    min_upload_date: str = "2005-01-01"
    max_upload_date: str = "2026-01-01"
    max_calls_per_hour: int = Field(3600, gt=0)
    per_page: int = Field(500, ge=1, le=500, description="results per API page (Flickr's maximum: 500)")
    result_cap: int = Field(4000, ge=1, description="results Flickr serves per query; larger windows split")
    max_photos: int | None = Field(None, ge=0, description="stop listing after this many photos (null: all)")
    size: Literal["url_o", "url_k", "url_h", "url_b", "url_c", "url_z", "url_n"] = "url_c"
    concurrency: int = Field(16, ge=1, le=256, description="concurrent image downloads")
    honor_noai: bool = Field(True, description="skip images served with X-Robots-Tag noai / noimageai")
    page_url: str = Field("https://www.flickr.com/photos", description="base of attribution page URLs")

    @field_validator("licenses")
    @classmethod
    def _known_licenses(cls, v: list[int]) -> list[int]:
        unknown = [i for i in v if i not in FLICKR_LICENSES]
        if unknown:
            raise ValueError(f"unknown Flickr licence ids {unknown}; known: {sorted(FLICKR_LICENSES)}")
        return v

    @field_validator("min_upload_date", "max_upload_date", mode="before")
    @classmethod
    def _iso_date(cls, v: object) -> object:
        """Accept YAML dates (`--set ...=2014-06-01` parses as a date) and check ISO strings."""
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, str):
            dt.date.fromisoformat(v)
        return v

    @model_validator(mode="after")
    def _ordered(self) -> FlickrParams:
        if self.min_upload_date >= self.max_upload_date:
            raise ValueError("min_upload_date must be before max_upload_date")
        return self


class HarvestParams(StrictModel):
    """Which sources to harvest and the limits shared by all of them."""

    sources: list[str] = Field(default_factory=lambda: ["synthetic"])
    folder: FolderParams = Field(default_factory=FolderParams)
    voxceleb: VoxCelebParams = Field(default_factory=VoxCelebParams)
    flickr: FlickrParams = Field(default_factory=FlickrParams)
    max_pixels: int = Field(89_478_485, gt=0, description="decompression-bomb limit (PIL's default)")
    timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per request")
    retries: int = Field(5, ge=1, description="attempts per HTTP request (429, 5xx, timeouts retried)")
    backoff_s: float = Field(1.0, ge=0, description="first retry wait; doubles per attempt")
    max_retry_after_s: float = Field(600.0, ge=0, description="longest Retry-After honoured")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in SOURCES]
        if bad:
            raise ValueError(f"unknown sources {bad}; choose from {list(SOURCES)}")
        if len(set(v)) != len(v):
            raise ValueError("sources listed twice")
        return v
