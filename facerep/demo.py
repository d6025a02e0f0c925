"""`facerep demo`: the whole pipeline on SynthFaces, offline, sized for a 2-core laptop.

The default parameters are the demo's sizes, so the demo is simply every stage run in order with
no overrides; it ends by saying where the outputs are and how to browse the runs.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from facerep.params import Params
from facerep.pipeline import run_pipeline


def run_demo(params: Params, console: Console) -> None:
    """Run every installed stage on the built-in data and print where to look."""
    results = run_pipeline(params, None, console, name="demo")
    console.rule("[bold green]demo finished")
    for stage, result in results.items():
        for out in result.outputs:
            console.print(f"{stage:>9}: {out}")
    report = Path(params.paths.results) / "report.md"
    if report.exists():
        console.print(f"report: {report}")
    if params.tracking.enabled:
        console.print(f"browse the runs: .venv/bin/mlflow ui --backend-store-uri {params.tracking.uri}")
