"""The harvest stage: every configured source into one resumable manifest (DESIGN section 2).

Sources run in `harvest.sources` order, each with its own journal under `<paths.raw>/.journal/`; the
manifest is rebuilt from the rows of this run (journaled or new) and written atomically, so a
re-run after any interruption, kill -9 included, writes the manifest an uninterrupted run writes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from facerep.errors import InputError
from facerep.harvest.flickr import harvest_flickr
from facerep.harvest.folder import harvest_folder
from facerep.harvest.manifest import Journal, build_manifest, journal_path, summarize, write_manifest
from facerep.harvest.synthetic import harvest_synthetic
from facerep.harvest.voxceleb import harvest_clips, harvest_tracks
from facerep.io import write_json
from facerep.params import Params
from facerep.stages import StageResult
from facerep.tracking import Tracker

MANIFEST = "manifest.parquet"
SUMMARY = "harvest_summary.json"


def remove_partial_files(raw: Path) -> int:
    """Delete temporary files a killed run left behind (`.<name>.*.tmp` of facerep.io.atomic_path)."""
    removed = 0
    for dirpath, _dirs, files in os.walk(raw):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed


def source_settings(source: str, params: Params) -> dict[str, Any]:
    """The parameters that shape a source's manifest rows (the journal's fingerprint)."""
    h = params.harvest.model_dump(mode="json")
    vox = {k: v for k, v in h["voxceleb"].items() if k != "download"}
    shared = {"max_pixels": h["max_pixels"]}
    if source == "synthetic":  # SynthFaces rows carry their own licence
        return {
            **shared,
            "synth": params.paths.synth,
            "voxceleb": {k: v for k, v in vox.items() if k != "license"},
        }
    if source == "folder":
        return {**shared, **h["folder"]}
    if source == "voxceleb":
        return {**shared, **vox}
    keep = (
        "api_url",
        "tags",
        "licenses",
        "min_upload_date",
        "max_upload_date",
        "size",
        "honor_noai",
        "page_url",
    )
    return {**shared, **{k: h["flickr"][k] for k in keep}}


def harvest_source(source: str, params: Params, raw: Path, metrics: dict[str, float]) -> list[dict[str, Any]]:
    """The rows of one source."""
    cfg = params.harvest
    with Journal(journal_path(raw, source, source_settings(source, params))) as journal:
        if source == "synthetic":
            return harvest_synthetic(Path(params.paths.synth), raw, journal, cfg)
        if source == "folder":
            if cfg.folder.root is None:
                raise InputError("harvest.sources includes folder: set harvest.folder.root")
            return harvest_folder(
                Path(cfg.folder.root), raw, journal, max_pixels=cfg.max_pixels, license=cfg.folder.license
            )
        if source == "voxceleb":
            if cfg.voxceleb.root is None and cfg.voxceleb.metadata is None:
                raise InputError("harvest.sources includes voxceleb: set harvest.voxceleb.root or .metadata")
            rows: list[dict[str, Any]] = []
            if cfg.voxceleb.root is not None:
                rows += harvest_clips(
                    Path(cfg.voxceleb.root), raw, journal, cfg.voxceleb, license=cfg.voxceleb.license
                )
            if cfg.voxceleb.metadata is not None:
                rows += harvest_tracks(raw, journal, cfg.voxceleb)
            return rows
        with Journal(journal_path(raw, "flickr_api")) as api_cache:  # keyed by the full query
            run = harvest_flickr(cfg, raw, journal, api_cache)
        metrics["flickr_api_calls"] = float(run.api_calls)
        metrics["flickr_listed"] = float(run.listed)
        return run.rows


def _metric_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\- /]", "_", name)


def summary_metrics(summary: dict[str, dict[str, int]]) -> dict[str, float]:
    """Flat numeric metrics for MLflow: totals, then counts per status, source and licence."""
    total = sum(summary["status"].values())
    ok = summary["status"].get("ok", 0)
    metrics = {"items": float(total), "ok": float(ok), "rejected": float(total - ok)}
    for group, counts in summary.items():
        for name, n in counts.items():
            metrics[_metric_key(f"{group}.{name}")] = float(n)
    return metrics


def run(params: Params, tracker: Tracker) -> StageResult:
    """Harvest every source in `harvest.sources` into `<paths.raw>/manifest.parquet`."""
    raw = Path(params.paths.raw)
    raw.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {"partial_files_removed": float(remove_partial_files(raw))}
    rows: list[dict[str, Any]] = []
    for source in params.harvest.sources:
        rows += harvest_source(source, params, raw, metrics)
    table = build_manifest(rows)
    manifest = raw / MANIFEST
    write_manifest(manifest, table)
    summary = summarize(table.to_pandas())
    write_json(raw / SUMMARY, summary)
    metrics.update(summary_metrics(summary))
    tracker.set_tags({"harvest.sources": ",".join(params.harvest.sources)})
    return StageResult(metrics=metrics, artifacts=[raw / SUMMARY], outputs=[manifest])
