"""The one interface of a harvest source, and the registry that finds every source.

A source describes its work items and the work on one item; the resumable core
(`facerep.harvest.runner.run_source`) journals, skips and parallelises them, and the stage runs
every source in `harvest.sources` the same way. A source is one module of `facerep.harvest.sources`
(or of `facerep_harvest_sources`, kept outside the repository: docs/extending.md) holding a `Source`
subclass decorated with `@register("<name>")` and, beside it, the pydantic model of its parameter
section `harvest.<name>` with its defaults. `facerep.harvest.config` collects those sections into
`HarvestParams`, so nothing outside the source's module lists it.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from facerep.cores import resolve_workers
from facerep.paramsbase import StrictModel

if TYPE_CHECKING:
    from facerep.harvest.runner import Outcome
    from facerep.params import Params

I = TypeVar("I")  # noqa: E741 - a source's work item
S = TypeVar("S", bound="type[Source[Any]]")
# Sources kept outside this repository: modules of `facerep_harvest_sources/` in any directory on
# sys.path (a PEP 420 namespace package: every such directory adds its modules).
PLUGIN_NAMESPACE = "facerep_harvest_sources"


class Source(ABC, Generic[I]):
    """A harvest source: its items, keyed for the journal, and the work on one item.

    A source is a context manager so that what its items share (an HTTP client, an API cache) is
    open while they run; most sources need none. `settings` is what shapes the source's manifest
    rows: the journal is keyed by its fingerprint, so changing one of them redoes the work.
    """

    name: ClassVar[str]
    params_model: ClassVar[type[StrictModel] | None] = None  # the section `harvest.<name>`
    rowless: ClassVar[frozenset[str]] = frozenset()  # section fields that shape no row (rates, caps)
    unit: ClassVar[str] = "items"  # what the progress bar counts

    def __init__(self, params: Params, raw: Path) -> None:
        self.params, self.raw, self.shared = params, raw, params.harvest
        # Concurrent items (threads suit file and network work: runner.run_items); a source whose
        # work waits on a network may set its own (Flickr: harvest.flickr.concurrency).
        self.workers = resolve_workers(params.harvest.workers)

    @property
    def section(self) -> Any:
        """This source's parameter section (`harvest.<name>`), of type `params_model`."""
        return getattr(self.params.harvest, self.name)

    def settings(self) -> dict[str, Any]:
        """The parameters that shape this source's rows: the pixel limit and its own section."""
        own = (
            {}
            if self.params_model is None
            else self.section.model_dump(mode="json", exclude=set(self.rowless))
        )
        return {"max_pixels": self.shared.max_pixels, **own}

    @abstractmethod
    def items(self) -> Iterable[tuple[str, I]]:
        """Every work item with its journal key (stable across runs); raise InputError when the
        source is not usable as configured. May be a generator: the runner works on items as they
        come (a listing that pages through an API downloads while it lists)."""

    @abstractmethod
    def work(self, item: I) -> Outcome:
        """The manifest rows of one item, its files stored first (called from worker threads)."""

    def metrics(self) -> dict[str, float]:
        """Numbers of the source's own beside the manifest counts (read after its items ran)."""
        return {}

    def __enter__(self) -> Source[I]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


SOURCES: dict[str, type[Source[Any]]] = {}


def register(name: str) -> Callable[[S], S]:
    """Class decorator: record the source under `name` (also its `.name` and its section's key)."""

    def deco(cls: S) -> S:
        known = SOURCES.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"harvest source {name!r} registered twice")
        cls.name = name
        SOURCES[name] = cls
        return cls

    return deco


def load_sources() -> dict[str, type[Source[Any]]]:
    """Import every module of facerep.harvest.sources and of the namespace package
    `facerep_harvest_sources` (running their `register`) and return SOURCES."""
    for package in ("facerep.harvest.sources", PLUGIN_NAMESPACE):
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name != package:
                raise
            continue  # no plug-in directory on sys.path
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            importlib.import_module(f"{package}.{info.name}")
    return SOURCES
