"""Metric versus label fraction, one line per init and the chance floor dashed (log-scaled fraction
axis), one PNG per task."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facerep.report.tables import FLOOR


def fraction_plot(df: pd.DataFrame, task: str, dataset: str, out: Path) -> Path:
    """Write `out` (PNG): the primary metric's mean ± std against the label fraction per init."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facerep.io import atomic_path

    part = df[(df.task == task) & (df.dataset == dataset) & df.primary].sort_values("regime")
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    for init, rows in part.groupby("init"):
        if init == FLOOR:  # the floor, not a competitor: a plain grey dashed line
            ax.plot(rows.regime * 100, rows["mean"], "--", color="grey", label=f"{FLOOR} (floor)")
            continue
        ax.errorbar(rows.regime * 100, rows["mean"], yerr=rows["std"], marker="o", capsize=3, label=init)
    ax.set_xscale("log")
    ax.set_xlabel("labels used (%)")
    ax.set_ylabel(part.metric.iloc[0])
    ax.set_title(f"{task} ({dataset})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out
