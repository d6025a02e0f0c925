"""The report's first lines: what the run shows, in plain words.

A newcomer reads these before any table, so they say which tasks each init won, lost and tied
against the baseline at each regime, whether more labels helped the baseline, which points are no
better than the chance floor, and how big the run was (a result at demo scale reads differently
from one at paper scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facerep.report.tables import FLOOR, at_chance, gap_and_bar
from facerep.storage import Location, exists, read_bytes

#: what each finetune mode compares, for a reader who does not know the parameter
MODE_WORDS = {
    "linear": "frozen backbones (mode linear: a head on fixed features, so scratch is a random network)",
    "finetune": "whole networks trained (mode finetune)",
}
OUTCOMES = ("better", "worse", "tied", "no verdict (one seed)")
HEADING = "## What this run shows"


@dataclass(frozen=True)
class Scale:
    """What the table rows do not say about the run: the fine-tuning image size and each
    pre-training's `metrics.json` (steps, images per second), by method."""

    image_size: int
    pretrain: dict[str, dict[str, float]]


def pretrain_scale(models: Location, methods: list[str]) -> dict[str, dict[str, float]]:
    """`<models>/pretrain/<method>/metrics.json` of each method that has one."""
    docs = {}
    for method in methods:
        path = models / "pretrain" / method / "metrics.json"
        if exists(path):
            docs[method] = json.loads(read_bytes(path))
    return docs


def outcome(base: pd.Series, other: pd.Series, k: float, higher: bool) -> str:
    """One of OUTCOMES: `other` against `base` by the report's k-std rule (`gap_and_bar`)."""
    gap, bar = gap_and_bar(base, other, k, higher)
    if bar is None:
        return OUTCOMES[3]
    return OUTCOMES[0] if gap > bar else OUTCOMES[1] if -gap > bar else OUTCOMES[2]


def percent(regime: float) -> str:
    return f"{regime * 100:g}%"


def span(values: pd.Series) -> str:
    """`20` or `18-20`: a quantity that may differ between tasks, thousands separated."""
    lo, hi = int(values.min()), int(values.max())
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def _tally(groups: dict[str, list[str]], total: int) -> str:
    """`better on 2 of 7 tasks (a, b), worse on none, tied on 5 (...)`; empty rare outcomes left out."""
    parts = []
    for i, name in enumerate(OUTCOMES):
        tasks = groups.get(name, [])
        if not tasks and i > 1:
            continue
        listed = f" ({', '.join(tasks)})" if tasks else ""
        count = f"{len(tasks)} of {total} tasks" if i == 0 else str(len(tasks)) if tasks else "none"
        parts.append(f"{name} on {count}{listed}")
    return ", ".join(parts)


def _points(df: pd.DataFrame) -> dict[tuple[str, str, float], pd.Series]:
    """Primary rows keyed by (task label, init, regime); the dataset joins the task label only when
    the run has more than one dataset."""
    primary = df[df.primary]
    several = primary.dataset.nunique() > 1
    return {
        (f"{row.task} ({row.dataset})" if several else row.task, row.init, row.regime): row
        for _, row in primary.iterrows()
    }


def summary_lines(df: pd.DataFrame, baseline: str, k: float, scale: Scale) -> list[str]:
    """Markdown bullets: comparisons per regime, more labels for the baseline, chance, scale."""
    points = _points(df)
    tasks = sorted({t for t, _, _ in points})
    regimes = sorted({r for _, _, r in points})
    inits = sorted({i for _, i, _ in points} - {baseline, FLOOR})
    lines = []
    for r in regimes:
        for init in inits:
            groups: dict[str, list[str]] = {}
            for t in tasks:
                b, o = points.get((t, baseline, r)), points.get((t, init, r))
                if b is not None and o is not None:
                    groups.setdefault(outcome(b, o, k, bool(b.higher_is_better)), []).append(t)
            if groups:
                total = sum(map(len, groups.values()))
                lines.append(f"At {percent(r)} labels, {init} against {baseline}: {_tally(groups, total)}.")
    if len(regimes) > 1:
        lo, hi = regimes[0], regimes[-1]
        groups = {}
        for t in tasks:
            b, o = points.get((t, baseline, lo)), points.get((t, baseline, hi))
            if b is not None and o is not None:
                groups.setdefault(outcome(b, o, k, bool(b.higher_is_better)), []).append(t)
        if groups:
            total = sum(map(len, groups.values()))
            lines.append(
                f"More labels for {baseline} ({percent(hi)} against {percent(lo)}): {_tally(groups, total)}."
            )
    lines.append(_chance_line(points, k))
    lines.append(_scale_line(df, scale))
    return [f"- {line}" for line in lines]


def _chance_line(points: dict[tuple[str, str, float], pd.Series], k: float) -> str:
    floors = {(t, r): p for (t, i, r), p in points.items() if i == FLOOR}
    if not floors:
        return "No chance floor in these results (finetune wrote no `chance` points)."
    low: dict[str, list[str]] = {}
    for (t, init, r), p in sorted(points.items()):
        floor = floors.get((t, r))
        if init != FLOOR and floor is not None and at_chance(floor, p, k, bool(p.higher_is_better))[0]:
            low.setdefault(f"{init} on {t}", []).append(percent(r))
    if not low:
        return f"Every point beats the chance floor by more than {k:g} std."
    listed = "; ".join(f"{what} at {', '.join(rs)}" for what, rs in low.items())
    return f"At chance (not above the floor by more than {k:g} std): {listed}."


def _scale_line(df: pd.DataFrame, scale: Scale) -> str:
    """Labelled faces and seeds per regime, schedule lengths, image size, mode, pre-training."""
    trained = df[df.primary & (df.init != FLOOR)]
    per_regime = trained.groupby("regime")
    faces = ", ".join(f"{span(g.subset_size)} at {percent(r)}" for r, g in per_regime)
    seeds = ", ".join(f"{span(g.seeds)} at {percent(r)}" for r, g in per_regime)
    modes = ", ".join(MODE_WORDS.get(m, f"mode {m}") for m in sorted(set(trained["mode"])))
    text = (
        f"Scale: labelled training faces {faces}; seeds {seeds}; {span(trained.steps)} fine-tuning "
        f"steps; {scale.image_size} px images; {modes}"
    )
    for method, doc in sorted(scale.pretrain.items()):
        rate = f" at {doc['images_per_s']:.0f} images/s" if "images_per_s" in doc else ""
        text += f"; pre-training {method}: {int(doc['steps']):,} steps{rate}"
    return text + "."


def read_summary(report: Path) -> list[str]:
    """The bullets under HEADING in a written report.md (what `facerep demo` prints at its end)."""
    _, found, rest = report.read_text().partition(HEADING)
    return rest.strip().split("\n\n")[0].splitlines() if found else []
