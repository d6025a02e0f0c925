"""Collecting finetune results into one table and rendering the per-task markdown tables.

The finetune stage writes a pseudo-init `chance` per (task, regime): the best constant prediction
fitted on the subset's training labels (the mean shape for landmarks). It is the floor, shown beside
the inits: never a baseline, never compared for significance as if it were one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from facerep.report.config import FLOOR
from facerep.report.paper_numbers import published


def collect(results: Path) -> pd.DataFrame:
    """One row per (task, dataset, init, regime, metric) from every finetune metrics.json; a point
    with self-distilled students (Bulat 3.5) adds rows for the init `<init>+distill`."""
    rows = []
    for path in sorted((results / "finetune").glob("*/*/*/*/metrics.json")):
        doc = json.loads(path.read_text())
        variants = [(doc["init"], doc["mean"], doc["std"])]
        if "mean_distilled" in doc:
            variants.append((f"{doc['init']}+distill", doc["mean_distilled"], doc["std_distilled"]))
        for init, means, stds in variants:
            for metric, mean in means.items():
                rows.append(
                    {
                        "task": doc["task"],
                        "dataset": doc["dataset"],
                        "init": init,
                        "regime": float(doc["regime"]),
                        "mode": doc.get("mode", ""),
                        "metric": metric,
                        "primary": metric == doc["primary"],
                        "higher_is_better": bool(doc["higher_is_better"]),
                        "mean": mean,
                        "std": stds[metric],
                        "seeds": len(doc["seeds"]),
                        "subset_id": doc["subset_id"],
                        "subset_size": doc["subset_size"],
                        "lr": doc["hparams"]["lr"],
                        "steps": doc["hparams"]["steps"],
                        "backbone_lr_mult": doc["hparams"]["backbone_lr_mult"],
                    }
                )
    return pd.DataFrame(rows)


def gap_and_bar(base: pd.Series, other: pd.Series, k: float, higher: bool) -> tuple[float, float | None]:
    """`other`'s gap to `base` (better +) and the k-std bar it must clear, the larger of the two
    std. A point of one seed has no spread: its std of 0 would call any gap significant, so the
    bar is None there."""
    gap = (other["mean"] - base["mean"]) * (1 if higher else -1)
    if min(base["seeds"], other["seeds"]) < 2:
        return gap, None
    return gap, k * max(other["std"], base["std"])


def verdict(base: pd.Series, other: pd.Series, k: float, higher: bool) -> str:
    """Whether `other` beats `base` by more than k standard deviations (`gap_and_bar`)."""
    gap, bar = gap_and_bar(base, other, k, higher)
    if bar is None:
        return f"gap {gap:+.4g}; one seed, no spread: no verdict"
    if gap > bar:
        return f"better by {abs(gap):.4g} > {k:g} std ({bar:.3g}): significant"
    if -gap > bar:
        return f"worse by {abs(gap):.4g} > {k:g} std ({bar:.3g}): significantly worse"
    return f"gap {gap:+.4g} within {k:g} std ({bar:.3g}): not significant"


def at_chance(floor: pd.Series, point: pd.Series, k: float, higher: bool) -> tuple[bool, float]:
    """Whether `point` is no better than the chance floor: its gap over the floor (better +) is at
    most k times the larger std. A point of one seed has std 0, so it is at chance only when it does
    not beat the floor at all."""
    gap = (point["mean"] - floor["mean"]) * (1 if higher else -1)
    return gap <= k * max(point["std"], floor["std"]), gap


def cell(row: pd.Series) -> str:
    """`mean ± std`, or the mean alone for a point of one seed (its std is no spread)."""
    if row["seeds"] < 2:
        return f"{row['mean']:.4f}"
    return f"{row['mean']:.4f} ± {row['std']:.4f}"


def _point(part: pd.DataFrame, init: str, regime: float) -> pd.Series | None:
    rows = part[(part.init == init) & (part.regime == regime)]
    return rows.iloc[0] if len(rows) else None


def task_section(df: pd.DataFrame, task: str, dataset: str, baseline: str, k: float, paper: bool) -> str:
    """Markdown of one task: init x regime table of the primary metric with the chance floor beside
    the inits, verdicts against the baseline, the points no better than chance, paper numbers."""
    part = df[(df.task == task) & (df.dataset == dataset) & df.primary]
    metric, higher = part.metric.iloc[0], bool(part.higher_is_better.iloc[0])
    regimes = sorted(part.regime.unique())
    inits = sorted(set(part.init) - {FLOOR}, key=lambda s: (s != baseline, s))
    head = f"### {task} on {dataset}: {metric} ({'higher' if higher else 'lower'} is better)\n\n"
    lines = ["| init | " + " | ".join(f"{r:g}" for r in regimes) + " |", "|---" * (len(regimes) + 1) + "|"]
    for init in inits + ([FLOOR] if FLOOR in set(part.init) else []):
        points = [_point(part, init, r) for r in regimes]
        label = f"{FLOOR} (floor)" if init == FLOOR else init
        lines.append(f"| {label} | " + " | ".join("" if p is None else cell(p) for p in points) + " |")
    rows = published(task, dataset, metric) if paper else {}
    for label, values in rows.items():
        lines.append(
            f"| {label} (paper) | "
            + " | ".join(f"{values[r]:.4f}" if r in values else "" for r in regimes)
            + " |"
        )
    verdicts, floors = [], []
    for init in inits:
        for r in regimes:
            b, o, f = _point(part, baseline, r), _point(part, init, r), _point(part, FLOOR, r)
            if init != baseline and b is not None and o is not None:
                verdicts.append(f"- {init} vs {baseline} at {r:g}: {verdict(b, o, k, higher)}")
            if f is not None and o is not None:
                low, gap = at_chance(f, o, k, higher)
                if low:
                    floors.append(f"- {init} at {r:g}: at chance (gap to the floor {gap:+.4g})")
    seeds = ", ".join(f"{r:g}: {int(part[part.regime == r].seeds.max())}" for r in regimes)
    note = f"\nMean ± std over seeds ({seeds}); subsets: " + ", ".join(
        f"{r:g} = {part[part.regime == r].subset_id.iloc[0]}" for r in regimes
    )
    if FLOOR in set(part.init):
        note += (
            f". {FLOOR} (floor): the best constant prediction fitted on the training labels; an init is "
            f"at chance where it does not beat it by more than {k:g} std."
        )
    return head + "\n".join(lines) + "\n" + note + "\n\n" + "\n".join(verdicts + floors) + "\n"
