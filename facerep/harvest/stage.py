"""The harvest stage: every configured source into one resumable manifest (DESIGN section 2).

Sources (facerep.harvest.source: one module each, found by their registry) run in `harvest.sources`
order through one resumable core, each with its own journal under `<paths.raw>/.journal/`; the
manifest is rebuilt from the rows of this run (journaled or new) and written atomically, so a
re-run after any interruption, kill -9 included, writes the manifest an uninterrupted run writes.
Rows stream from the sources into the manifest writer (`facerep.harvest.manifest.write_manifest`):
memory does not grow with the number of items.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from facerep.harvest.manifest import summarize, write_manifest
from facerep.harvest.runner import run_source
from facerep.harvest.source import load_sources
from facerep.io import write_json
from facerep.params import Params
from facerep.stages import StageResult
from facerep.tracking import Tracker

MANIFEST = "manifest.parquet"
SUMMARY = "harvest_summary.json"


def remove_partial_files(raw: Path) -> int:
    """Delete temporary files a killed run left behind (`.<name>.*.tmp` of facerep.io.atomic_path, and
    the manifest writer's scratch directory of the same pattern)."""
    removed = 0
    for dirpath, dirs, files in os.walk(raw):
        for name in [d for d in dirs if d.startswith(".") and d.endswith(".tmp")]:
            shutil.rmtree(os.path.join(dirpath, name))
            dirs.remove(name)
            removed += 1
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed


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


def harvested_rows(params: Params, raw: Path, metrics: dict[str, float]) -> Iterator[dict[str, Any]]:
    """The rows of every source in `harvest.sources`, each source opened while its rows stream (its
    own numbers go into `metrics` once it is done)."""
    sources = load_sources()
    for name in params.harvest.sources:
        with sources[name](params, raw) as source:
            yield from run_source(source, raw)
            metrics.update(source.metrics())


def run(params: Params, tracker: Tracker) -> StageResult:
    """Harvest every source in `harvest.sources` into `<paths.raw>/manifest.parquet`."""
    raw = Path(params.paths.raw)
    raw.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {"partial_files_removed": float(remove_partial_files(raw))}
    manifest = raw / MANIFEST
    write_manifest(manifest, harvested_rows(params, raw, metrics))
    summary = summarize(manifest)
    write_json(raw / SUMMARY, summary)
    metrics.update(summary_metrics(summary))
    tracker.set_tags({"harvest.sources": ",".join(params.harvest.sources)})
    return StageResult(metrics=metrics, artifacts=[raw / SUMMARY], outputs=[manifest])
