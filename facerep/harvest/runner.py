"""Run a source's work items concurrently, journaling each finished one (the resumable core).

A work item (a photo, a file, a clip) is done when its journal line is written; a re-run returns the
journaled rows without touching the item again. Items whose failure may be transient (a server
still answering 503 after every retry) are reported but not journaled, so the next run tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from facerep.harvest.manifest import Journal, journal_path
from facerep.progress import count_bar

if TYPE_CHECKING:
    from facerep.harvest.source import Source

T = TypeVar("T")


@dataclass
class Outcome:
    """The manifest rows of one item; `final` is False for failures worth retrying next run."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    final: bool = True


def run_items(
    items: Iterable[tuple[str, T]],
    work: Callable[[T], Outcome],
    journal: Journal,
    description: str,
    workers: int,
) -> Iterator[dict[str, Any]]:
    """Process the items not yet journaled with `workers` threads, yielding the rows of those whose
    failure is worth retrying (not journaled); the journal holds every other row of the run, which
    `run_source` streams from it afterwards (the journaled items listed again are marked `reuse`).

    `items` is consumed as it comes, with at most `4 * workers` items in flight: a source that lists
    lazily (Flickr's search pages) downloads while it lists, and a million-item listing never becomes
    a million pending futures. Threads suit this work: downloads wait on sockets, and PIL, PyAV and
    hashlib release the GIL while decoding and hashing.
    """
    before = 0

    def job(key: str, item: T) -> Outcome:
        # journaled by the worker itself, so at most one finished item per worker is unrecorded at a kill
        out = work(item)
        if out.final:
            journal.append(key, out.rows)
        return out

    def todo() -> Iterator[tuple[str, T]]:
        nonlocal before
        for key, item in items:
            if key in journal:
                journal.reuse(key)
                before += 1
            else:
                yield key, item

    def retried(done: Iterable[Future[Outcome]]) -> Iterator[dict[str, Any]]:
        for fut in done:
            out = fut.result()
            if not out.final:
                yield from out.rows

    pending: set[Future[Outcome]] = set()
    with ThreadPoolExecutor(max_workers=workers) as pool, count_bar(description) as advance:
        for key, item in todo():
            pending.add(pool.submit(job, key, item))
            if len(pending) >= 4 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from retried(finished)
                advance(len(finished), before)
        for fut in as_completed(pending):
            yield from retried([fut])
            advance(1, before)


def run_source(source: Source[Any], raw: Path) -> Iterator[dict[str, Any]]:
    """Every row of one (opened) source, streamed: its items through `run_items`, journaled under
    `<raw>/.journal/<name>/<fingerprint of its settings>.jsonl`, then this run's journal lines."""
    with Journal(journal_path(raw, source.name, source.settings())) as journal:
        items = source.items()
        yield from run_items(items, source.work, journal, f"{source.name} {source.unit}", source.workers)
        for rows in journal.run_rows():
            yield from rows
