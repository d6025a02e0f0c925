"""Parameters of the harvest stage (`harvest:` in pipeline_params.yaml).

The limits every source shares are here; each source's own section (`harvest.folder`,
`harvest.flickr`, ...) is the model its module declares beside it, collected from the registry into
`HarvestParams`. Defaults are offline-safe: the default source is `synthetic` (SynthFaces under
`paths.synth`), the VoxCeleb downloader is off, and the Flickr API key is never a parameter (env
`FLICKR_API_KEY` only).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model, field_validator

from facerep.harvest.source import load_sources
from facerep.paramsbase import StrictModel


class SharedParams(StrictModel):
    """Which sources to harvest and the limits shared by all of them."""

    sources: list[str] = Field(default_factory=lambda: ["synthetic"])
    max_pixels: int = Field(89_478_485, gt=0, description="decompression-bomb limit (PIL's default)")
    workers: int | None = Field(
        None, ge=1, description="items (files, clips) processed at once; null: the cores available"
    )
    timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per request")
    retries: int = Field(5, ge=1, description="attempts per HTTP request (429, 5xx, timeouts retried)")
    backoff_s: float = Field(1.0, ge=0, description="first retry wait; doubles per attempt")
    max_retry_after_s: float = Field(600.0, ge=0, description="longest Retry-After honoured")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: list[str]) -> list[str]:
        known = sorted(load_sources())
        bad = [s for s in v if s not in known]
        if bad:
            raise ValueError(f"unknown sources {bad}; choose from {known}")
        if len(set(v)) != len(v):
            raise ValueError("sources listed twice")
        return v


def _sections() -> dict[str, Any]:
    """One field per registered source that has a parameter section, defaulting to its defaults."""
    return {
        name: (source.params_model, Field(default_factory=source.params_model))
        for name, source in load_sources().items()
        if source.params_model is not None
    }


HarvestParams = create_model("HarvestParams", __base__=SharedParams, __module__=__name__, **_sections())
HarvestParams.__doc__ = "The shared limits and one section per harvest source that has parameters."
