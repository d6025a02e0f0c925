"""Collecting finetune results into one table and rendering the per-task markdown tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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


def cell(row: pd.Series) -> str:
    """`mean ± std`, or the mean alone for a point of one seed (its std is no spread)."""
    if row["seeds"] < 2:
        return f"{row['mean']:.4f}"
    return f"{row['mean']:.4f} ± {row['std']:.4f}"


def task_section(df: pd.DataFrame, task: str, dataset: str, baseline: str, k: float, paper: bool) -> str:
    """Markdown of one task: init x regime table of the primary metric, verdicts, paper numbers."""
    part = df[(df.task == task) & (df.dataset == dataset) & df.primary]
    metric, higher = part.metric.iloc[0], bool(part.higher_is_better.iloc[0])
    regimes = sorted(part.regime.unique())
    head = f"### {task} on {dataset}: {metric} ({'higher' if higher else 'lower'} is better)\n\n"
    lines = ["| init | " + " | ".join(f"{r:g}" for r in regimes) + " |", "|---" * (len(regimes) + 1) + "|"]
    for init in sorted(part.init.unique(), key=lambda s: (s != baseline, s)):
        cells = []
        for r in regimes:
            row = part[(part.init == init) & (part.regime == r)]
            cells.append(cell(row.iloc[0]) if len(row) else "")
        lines.append(f"| {init} | " + " | ".join(cells) + " |")
    rows = published(task, dataset, metric) if paper else {}
    for label, values in rows.items():
        lines.append(
            f"| {label} (paper) | "
            + " | ".join(f"{values[r]:.4f}" if r in values else "" for r in regimes)
            + " |"
        )
    verdicts = []
    for init in sorted(set(part.init) - {baseline}):
        for r in regimes:
            b = part[(part.init == baseline) & (part.regime == r)]
            o = part[(part.init == init) & (part.regime == r)]
            if len(b) and len(o):
                verdicts.append(
                    f"- {init} vs {baseline} at {r:g}: {verdict(b.iloc[0], o.iloc[0], k, higher)}"
                )
    seeds = ", ".join(f"{r:g}: {int(part[part.regime == r].seeds.max())}" for r in regimes)
    note = f"\nMean ± std over seeds ({seeds}); subsets: " + ", ".join(
        f"{r:g} = {part[part.regime == r].subset_id.iloc[0]}" for r in regimes
    )
    return head + "\n".join(lines) + "\n" + note + "\n\n" + "\n".join(verdicts) + "\n"
