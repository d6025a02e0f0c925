"""Progress on the terminal: one line per stage with its time, and bars for long loops inside it.

Everything draws on rich's global console, so the bars of `track` nest under the live line of
`stage_line` instead of fighting it for the terminal. Both are transient: when a stage ends, what
stays is its one line with its time (a log piped to a file gets that line alone, no bar frames).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from rich import get_console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def _live(*columns: ProgressColumn) -> Progress:
    """A transient display on rich's global console; none at all off a terminal, where rich would
    leave an empty line for each finished display."""
    return Progress(*columns, transient=True, disable=not get_console().is_interactive)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over `items` with a progress bar labelled `description`, cleared when done."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with _live(*columns) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


@contextlib.contextmanager
def step_bar(description: str, total: int, completed: int = 0) -> Iterator[Callable[[str], None]]:
    """A bar over `total` training steps, starting at `completed` (a resumed run); the callback it
    gives advances one step and shows `info` (the loss) beside it. For loops whose items are steps
    of a model rather than elements of a collection, so `track` does not fit."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with _live(*columns) as progress:
        task = progress.add_task(description, total=total, completed=completed, info="")

        def advance(info: str) -> None:
            progress.update(task, advance=1, info=info)

        yield advance


@contextlib.contextmanager
def count_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A counter of finished items for work whose total is unknown while it runs (items listed as
    they are processed); the callback adds `n` finished and shows `before`, the items a resumed run
    found done already."""
    columns = (
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed} done{task.fields[before]}"),
        TimeElapsedColumn(),
    )
    with _live(*columns) as progress:
        task = progress.add_task(description, total=None, before="")

        def advance(n: int, before: int) -> None:
            progress.update(task, advance=n, before=f" ({before} before)" if before else "")

        yield advance


@dataclass
class StageTime:
    """The wall-clock seconds of a `stage_line` block, set when it ends."""

    seconds: float = 0.0


@contextlib.contextmanager
def stage_line(label: str) -> Iterator[StageTime]:
    """While the block runs, a live line (spinner, `label`, elapsed time) with any `track` bars
    under it; when it ends, the one line that stays: `label: done in 30.1 s`, or `failed after`
    when the block raised (the error itself is the caller's to report)."""
    progress = _live(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    timing, start, finished = StageTime(), time.perf_counter(), False
    try:
        with progress:
            progress.add_task(label, total=None)
            yield timing
        finished = True
    finally:
        timing.seconds = time.perf_counter() - start
        outcome = "done in" if finished else "failed after"
        progress.console.print(f"{label}: {outcome} {timing.seconds:.1f} s", highlight=False)
