"""Parameter overrides shared by the harvest tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from fake_flickr import FakeFlickr, expected_size, expected_status

from facerep.harvest.licenses import license_name
from facerep.harvest.manifest import read_manifest

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


def expected_manifest(srv: FakeFlickr, tags: list[str], allowed: set[int]) -> dict[str, dict]:
    """What the manifest must say of every photo the server can list, content duplicates included."""
    rows = {}
    for p in srv.photos:
        status = expected_status(p, allowed)
        rows[f"flickr:{p.id}"] = {
            "status": status,
            "sha256": srv.sha256(p) if status == "ok" else None,
            "license": license_name(p.license),
            "owner": p.ownername,
            "page_url": f"https://www.flickr.com/photos/{p.owner}/{p.id}",
            "tag": next(t for t in tags if t in p.tags),
            "flickr_size": expected_size(p),
            "dup_of": None,
        }
    first: dict[str, str] = {}
    for image_id in sorted(rows):
        r = rows[image_id]
        if r["status"] == "ok":
            owner = first.setdefault(r["sha256"], image_id)
            if owner != image_id:
                r.update(status="duplicate", dup_of=owner)
    return rows


def assert_manifest_matches(raw: Path, want: dict[str, dict]) -> pd.DataFrame:
    """The manifest under `raw` says exactly `want` of every photo, and every ok file has its sha256."""
    df = read_manifest(raw / "manifest.parquet")
    assert df["image_id"].is_unique
    assert list(df["image_id"]) == sorted(df["image_id"])
    got = {r["image_id"]: r for r in df.to_dict("records")}
    assert set(got) == set(want)
    for image_id, w in want.items():
        g = got[image_id]
        for col in ("status", "license", "owner", "page_url", "tag"):
            assert g[col] == w[col], (image_id, col, g[col], w[col])
        if w["status"] == "ok":
            assert g["sha256"] == w["sha256"]
            assert hashlib.sha256((raw / g["path"]).read_bytes()).hexdigest() == w["sha256"]
            assert g["width"] > 0 and g["height"] > 0
            assert g["flickr_size"] == w["flickr_size"], (image_id, g["flickr_size"])
        else:
            assert pd.isna(g["path"])  # null for every rejected item
        if w["status"] == "duplicate":
            assert g["dup_of"] == w["dup_of"]
    return df
