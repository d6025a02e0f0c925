"""`facerep report`: `<paths.results>/summary.csv`, `report.md` (first what the run shows in plain
words, then one table per task: init x regime, mean ± std, the chance floor beside the inits, whether
each init beats the baseline by more than `report.significance_std` std at each regime, published
numbers beside ours) and one PNG per task under `<paths.results>/plots/`."""

from __future__ import annotations

from pathlib import Path

from facerep.errors import InputError
from facerep.io import atomic_path, write_text
from facerep.params import Params
from facerep.report.plots import fraction_plot
from facerep.report.summary import HEADING, Scale, pretrain_scale, summary_lines
from facerep.report.tables import collect, task_section
from facerep.stages import StageResult
from facerep.storage import location
from facerep.tracking import Tracker


def run(params: Params, tracker: Tracker) -> StageResult:
    """Summarise every finetune result under `paths.results`."""
    r = params.report
    results = Path(params.paths.results)
    df = collect(results)
    if df.empty:
        raise InputError(f"{results / 'finetune'}: no finetune results (run `facerep finetune` first)")
    summary = results / "summary.csv"
    with atomic_path(summary) as tmp:
        df.to_csv(tmp, index=False)
    sections, plots = [], []
    pairs = df[["task", "dataset"]].drop_duplicates().itertuples(index=False)
    for task, dataset in sorted(pairs):
        plot = fraction_plot(df, task, dataset, results / "plots" / f"{task}_{dataset}.png")
        plots.append(plot)
        section = task_section(df, task, dataset, r.baseline, r.significance_std, r.paper_numbers)
        sections.append(section + f"\n![{task}](plots/{plot.name})\n")
    methods = sorted({i[len("pretrain:") :].split("+")[0] for i in df.init if i.startswith("pretrain:")})
    scale = Scale(params.finetune.image_size, pretrain_scale(location(params.paths.models), methods))
    shows = "\n".join(summary_lines(df, r.baseline, r.significance_std, scale))
    intro = (
        f"# {r.title}\n\n{HEADING}\n\n{shows}\n\n"
        "Few-shot evaluation (Bulat et al. 3.3-3.4). A gap is called significant when it exceeds "
        f"{r.significance_std:g} standard deviations (the larger of the two inits' std over seeds). "
        "Full metrics: summary.csv.\n\n"
    )
    report = results / "report.md"
    write_text(report, intro + "\n".join(sections))
    primary = df[df.primary]
    metrics = {
        f"{t}.{i.replace(':', '-')}.{g:g}": float(m)
        for t, i, g, m in primary[["task", "init", "regime", "mean"]].itertuples(index=False)
    }
    return StageResult(
        metrics=metrics, artifacts=[report, summary, *plots], outputs=[report, summary, *plots]
    )
