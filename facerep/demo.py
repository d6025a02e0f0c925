"""`facerep demo`: the whole pipeline on SynthFaces, offline, sized for a 2-core laptop.

The default parameters are the demo's sizes, so the demo is simply every stage run in order with
no overrides. Each stage prints one line with its time; the demo ends with where its outputs are,
what the report shows (its opening lines) and how to browse the runs. In a DVC project (the
repository is one) a demo of pipeline_params.yaml records each stage in dvc.lock as `dvc repro`
would, so afterwards `dvc status` is clean and `dvc repro` does nothing.
"""

from __future__ import annotations

import time
from itertools import takewhile
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from facerep.params import Params
from facerep.pipeline import run_pipeline
from facerep.report.summary import read_summary
from facerep.storage import Location


def where(outputs: list[Location]) -> str:
    """The outputs themselves when they are few, else their count and the folder that holds them."""
    names = [str(p) for p in outputs]
    if len(names) <= 3:
        return ", ".join(names)
    shared = takewhile(lambda parts: len(set(parts)) == 1, zip(*(n.split("/") for n in names), strict=False))
    common = "/".join(parts[0] for parts in shared)  # component-wise, so `s3://` URLs keep their `//`
    return f"{len(names)} files under {common or '.'}"


def run_demo(params: Params, console: Console, record_dvc: bool = False) -> None:
    """Run every installed stage on the built-in data (recording them in dvc.lock with `record_dvc`)
    and print where to look."""
    start = time.perf_counter()
    results = run_pipeline(params, None, name="demo", record_dvc=record_dvc)
    minutes, seconds = divmod(round(time.perf_counter() - start), 60)
    console.rule(f"[bold green]demo finished in {minutes} min {seconds} s")
    for stage, result in results.items():
        if result.outputs:
            console.print(f"{stage:>9}: {escape(where(result.outputs))}", highlight=False)
    report = Path(params.paths.results) / "report.md"
    if report.exists():
        console.print(f"\nreport: {escape(str(report))}", highlight=False)
        for line in read_summary(report):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if record_dvc:
        console.print("\nrecorded in dvc.lock: `dvc status` is clean, `dvc exp show` lists the metrics")
    if params.tracking.enabled:
        uri = escape(params.tracking.resolved_uri())
        console.print(f"\nbrowse the runs: .venv/bin/mlflow ui --backend-store-uri {uri}", highlight=False)
