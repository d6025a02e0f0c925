"""Parameter overrides shared by the harvest tests."""

from __future__ import annotations

from pathlib import Path

from fake_flickr import FakeFlickr

TAGS = ["face", "people", "portrait", "smile", "wedding"]


def flickr_overrides(srv: FakeFlickr, raw: Path, tags: list[str] = TAGS, **extra: object) -> list[str]:
    """`--set` items pointing the harvester at the loopback Flickr, fast retries, low pixel limit."""
    sets = {
        "paths.raw": str(raw),
        "tracking.enabled": "false",
        "harvest.sources": "[flickr]",
        "harvest.flickr.api_url": srv.api_url,
        "harvest.flickr.tags": "[" + ", ".join(tags) + "]",
        "harvest.flickr.min_upload_date": "2014-06-01",
        "harvest.flickr.max_upload_date": "2020-06-01",
        "harvest.flickr.max_calls_per_hour": "100000000",
        "harvest.flickr.per_page": "100",
        "harvest.flickr.result_cap": str(srv.cap),
        "harvest.backoff_s": "0.01",
        "harvest.retries": "3",
        "harvest.max_pixels": "100000",
        **{k: str(v) for k, v in extra.items()},
    }
    return [f"{k}={v}" for k, v in sets.items()]
