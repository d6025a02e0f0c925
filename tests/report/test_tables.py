"""Report tables: verdicts need a spread, so points of one seed get a gap and no verdict; the chance
floor is a row beside the inits, never compared as one."""

from __future__ import annotations

import pandas as pd
import pytest

from facerep.report.tables import at_chance, task_section, verdict


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


def test_the_chance_floor_is_a_row_beside_the_inits_and_never_compared():
    df = pd.DataFrame(
        [
            point("scratch", 0.02, 9.75, 0.35, 3),
            point("pretrain:swav", 0.02, 7.59, 0.16, 3),
            point("chance", 0.02, 10.2, 0.0, 1),
            point("scratch", 1.0, 4.69, 0.2, 3),
            point("pretrain:swav", 1.0, 4.48, 0.1, 3),
            point("chance", 1.0, 10.1, 0.0, 1),
        ]
    )
    text = task_section(df, "pose", "synthfaces", "scratch", 2.0, paper=False)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| scratch | 9.7500 ± 0.3500 | 4.6900 ± 0.2000 |",
        "| pretrain:swav | 7.5900 ± 0.1600 | 4.4800 ± 0.1000 |",
        "| chance (floor) | 10.2000 | 10.1000 |",
    ]
    assert "chance vs" not in text and "vs chance" not in text
    # scratch at 2% beats the floor by 0.45, within 2 std (0.7): at chance; nothing else is
    assert "- scratch at 0.02: at chance (gap to the floor +0.45)" in text
    assert text.count("at chance (") == 1


def test_at_chance_means_not_above_the_floor_by_k_std():
    floor = pd.Series(point("chance", 0.02, 0.30, 0.0, 1))
    near = pd.Series(point("scratch", 0.02, 0.29, 0.01, 3))
    far = pd.Series(point("scratch", 0.02, 0.20, 0.01, 3))
    worse = pd.Series(point("scratch", 0.02, 0.35, 0.0, 1))
    assert at_chance(floor, near, 2, False) == (True, pytest.approx(0.01))
    assert at_chance(floor, far, 2, False)[0] is False
    assert at_chance(floor, worse, 2, False)[0] is True  # one seed worse than the floor
