"""Report tables: verdicts need a spread, so points of one seed get a gap and no verdict."""

from __future__ import annotations

import pandas as pd

from facerep.report.tables import task_section, verdict


def point(init: str, regime: float, mean: float, std: float, seeds: int) -> dict[str, object]:
    return {
        "task": "pose",
        "dataset": "synthfaces",
        "primary": True,
        "metric": "mae",
        "higher_is_better": False,
        "init": init,
        "regime": regime,
        "mean": mean,
        "std": std,
        "seeds": seeds,
        "subset_id": f"s{regime:g}",
    }


def test_verdicts_need_two_seeds_on_both_sides():
    base = pd.Series(point("scratch", 0.02, 10.0, 0.5, 5))
    assert verdict(base, pd.Series(point("swav", 0.02, 8.0, 0.4, 5)), 2, False).endswith(": significant")
    assert "not significant" in verdict(base, pd.Series(point("swav", 0.02, 9.5, 0.4, 5)), 2, False)
    one = pd.Series(point("swav", 0.02, 8.0, 0.0, 1))
    assert verdict(base, one, 2, False) == "gap +2; one seed, no spread: no verdict"


def test_one_seed_points_show_the_mean_alone_and_no_verdict():
    df = pd.DataFrame(
        [
            point("scratch", 0.02, 9.75, 0.35, 5),
            point("pretrain:swav", 0.02, 7.59, 0.16, 5),
            point("scratch", 1.0, 4.69, 0.0, 1),
            point("pretrain:swav", 1.0, 4.48, 0.0, 1),
        ]
    )
    text = task_section(df, "pose", "synthfaces", "scratch", 2.0, paper=False)
    assert "| scratch | 9.7500 ± 0.3500 | 4.6900 |" in text
    assert "| pretrain:swav | 7.5900 ± 0.1600 | 4.4800 |" in text
    assert "over seeds (0.02: 5, 1: 1)" in text
    assert "pretrain:swav vs scratch at 0.02: better by 2.16 > 2 std (0.7): significant" in text
    assert "pretrain:swav vs scratch at 1: gap +0.21; one seed, no spread: no verdict" in text
