"""Redundancy per source (Bulat et al., section 6: video datasets repeat faces the most).

One row per source: faces seen, exact and near duplicates removed, faces filtered, faces kept, and
the redundancy fraction (duplicates / faces). Written as Markdown and CSV, and as a bar plot.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facerep.io import atomic_path, write_text


def redundancy_table(curated: pd.DataFrame) -> pd.DataFrame:
    """Per-source counts from curated rows with `source` and `reason` columns."""
    reason = curated["reason"].fillna("")
    frame = pd.DataFrame(
        {
            "source": curated["source"].fillna("unknown").astype(str),
            "exact": reason.eq("exact_duplicate"),
            "near": reason.eq("near_duplicate"),
            "filtered": ~reason.isin(["", "exact_duplicate", "near_duplicate"]),
            "kept": curated["keep"].astype(bool),
        }
    )
    table = frame.groupby("source").agg(
        faces=("kept", "size"),
        exact_duplicates=("exact", "sum"),
        near_duplicates=("near", "sum"),
        filtered=("filtered", "sum"),
        kept=("kept", "sum"),
    )
    table["redundancy"] = (table["exact_duplicates"] + table["near_duplicates"]) / table["faces"]
    return table.reset_index()


def merge_redundancy(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One table from the `redundancy_table`s of consecutive parts of curated.parquet (the stage
    writes it batch by batch): counts added per source, the fraction recomputed."""
    if not tables:
        return redundancy_table(pd.DataFrame({"source": [], "reason": [], "keep": []}))
    counts = ["faces", "exact_duplicates", "near_duplicates", "filtered", "kept"]
    table = pd.concat(tables).groupby("source")[counts].sum()
    table["redundancy"] = (table["exact_duplicates"] + table["near_duplicates"]) / table["faces"]
    return table.reset_index()


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (floats to 3 decimals) without the optional `tabulate` dependency."""

    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def write_redundancy_report(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write redundancy.md, redundancy.csv and redundancy.png under `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    md, csv, png = out_dir / "redundancy.md", out_dir / "redundancy.csv", out_dir / "redundancy.png"
    write_text(md, "# Redundancy per source\n\n" + markdown_table(table) + "\n")
    write_text(csv, table.to_csv(index=False))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(table) + 2), 3.2))
    ax.bar(table["source"], table["redundancy"], color="#4c72b0")
    ax.set_ylabel("duplicates / faces")
    ax.set_ylim(0, max(0.05, float(table["redundancy"].max()) * 1.2))
    ax.set_title("Redundancy per source")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return [md, csv, png]
