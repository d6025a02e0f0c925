"""Atomic file writes: a stage never leaves a half-written output under its final name; the
content ids (`fingerprint`, `sha256_file`) by which a stage decides whether earlier work still holds;
and the streaming table helpers (`iter_table`, `TableWriter`, `external_sort`) that keep a data
stage's memory bounded by a batch of rows rather than by the number of items.

Every writer goes through a temporary file in the destination directory followed by
`os.replace`, which is atomic on POSIX file systems, so a crash (even kill -9) leaves
either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facerep.errors import InputError


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc/self/status), since
    setting it to read it back is racy with other threads creating files."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(path: Path) -> None:
    """Make a rename in directory `path` durable (POSIX: the entry lives in the directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The file gets the permissions a plain `open` would give (0666 less the umask), not mkstemp's 0600,
    so shards on a shared disk are readable by the group as the user's umask intends. `durable`
    fsyncs the file before the rename and the directory after it, so after a power loss the name
    holds either the old or the complete new content (for the outputs later stages trust: shards,
    the harvest manifest), at the cost of a disk flush per file."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, final)
        if durable:
            fsync_dir(final.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool = False) -> None:
    """Write `data` to `path` atomically (`durable`: fsynced, see `atomic_path`)."""
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str, durable: bool = False) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"), durable)


def write_json(path: str | os.PathLike[str], obj: Any, durable: bool = False) -> None:
    """Write `obj` as indented, key-sorted JSON atomically (stable bytes for DVC)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", durable)


def write_parquet(path: str | os.PathLike[str], df: pd.DataFrame, durable: bool = False) -> None:
    """Write a DataFrame to Parquet atomically (`durable`: fsynced, see `atomic_path`), without the
    pandas index."""
    with atomic_path(path, durable) as tmp:
        df.to_parquet(tmp, index=False)


def read_table(
    path: str | os.PathLike[str],
    required: tuple[str, ...] | list[str],
    *,
    missing_hint: str = "",
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """A stage's Parquet table with its contract columns checked, so every stage fails the same
    way on a missing, unreadable or incomplete input: an InputError naming the file and what is
    wrong (`missing_hint` says how to produce the file, e.g. "run `facerep detect` first")."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found" + (f"; {missing_hint}" if missing_hint else ""))
    try:
        table = pd.read_parquet(path, columns=columns)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


BATCH_ROWS = 8192  # rows per streamed batch and per written row group
MERGE_ROWS = 16384  # rows held at once by the k-way merge of `external_sort`, over all its runs


def parquet_file(
    path: str | os.PathLike[str], required: Iterable[str] = (), *, missing_hint: str = ""
) -> pq.ParquetFile:
    """An opened Parquet file whose schema holds the `required` columns, checked without reading any
    row: an InputError names the file and what is wrong, as `read_table` does."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found" + (f"; {missing_hint}" if missing_hint else ""))
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    missing = [c for c in required if c not in file.schema_arrow.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return file


def iter_table(
    path: str | os.PathLike[str],
    required: Iterable[str],
    *,
    optional: Iterable[str] = (),
    batch_rows: int = BATCH_ROWS,
    missing_hint: str = "",
) -> Iterator[pa.RecordBatch]:
    """The `required` columns (and those of `optional` the file has) of a stage's Parquet table, in
    file order, `batch_rows` rows at a time: a reader holds one batch, however long the table.
    Failures name the file: a missing column before any row is read, a corrupt page when reached."""
    required = list(required)
    file = parquet_file(path, required, missing_hint=missing_hint)
    names = file.schema_arrow.names
    columns = required + [c for c in optional if c in names and c not in required]
    try:
        yield from file.iter_batches(batch_size=batch_rows, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: unreadable Parquet data ({exc})") from exc
    finally:
        file.close()


class TableWriter:
    """A Parquet file written row group by row group under a fixed schema, atomically as
    `atomic_path` writes (`durable`: fsynced): a stage appends batches as it makes them and never
    holds the whole table, and a crash leaves the previous file, never a partial one.

    `write` takes a RecordBatch, a Table or a DataFrame (cast to the schema, so an all-null batch
    keeps the column types); the file gets at least one (possibly empty) row group, so readers see
    the schema even when no row was written.
    """

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema, durable: bool = False) -> None:
        self.path, self.schema, self.durable = Path(path), schema, durable
        self.rows = 0
        self._stack = contextlib.ExitStack()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> TableWriter:
        tmp = self._stack.enter_context(atomic_path(self.path, self.durable))
        self._writer = pq.ParquetWriter(tmp, self.schema)
        return self

    def write(self, data: pa.RecordBatch | pa.Table | pd.DataFrame) -> None:
        """Append `data` as one or more row groups of at most BATCH_ROWS rows."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: TableWriter used outside its with-block")
        if isinstance(data, pd.DataFrame):
            table = pa.Table.from_pandas(data, schema=self.schema, preserve_index=False)
        else:
            table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
            table = table.select(self.schema.names).cast(self.schema)
        if table.num_rows:
            self._writer.write_table(table, row_group_size=BATCH_ROWS)
            self.rows += table.num_rows

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                if kind is None and self.rows == 0:
                    writer.write_table(self.schema.empty_table())
                writer.close()
        finally:
            self._stack.__exit__(kind, exc, tb)


def external_sort(
    batches: Iterable[pa.RecordBatch | pa.Table],
    keys: list[str],
    schema: pa.Schema,
    tmp_dir: str | os.PathLike[str],
    *,
    run_rows: int | None = None,
) -> Iterator[pa.Table]:
    """`batches` sorted by the `keys` columns (ascending, non-null), as tables of at most BATCH_ROWS
    rows, holding at most `run_rows` (default 4 * BATCH_ROWS) rows to sort plus MERGE_ROWS rows to
    merge.

    Sorted runs of `run_rows` rows are written to Parquet files under `tmp_dir` (the caller's
    scratch directory, removed by the caller), then merged k ways. The sort is stable: rows with
    equal keys keep their arrival order, as `sorted` keeps it; strings compare by code point in
    both Arrow and Python, so the order is the one `sorted` over the key tuples gives.
    """
    tmp_dir = Path(tmp_dir)
    run_rows = run_rows or 4 * BATCH_ROWS
    runs: list[Path] = []
    pending: list[pa.Table] = []
    held = 0

    def spill() -> None:
        nonlocal pending, held
        table = pa.concat_tables(pending).sort_by([(k, "ascending") for k in keys])
        runs.append(tmp_dir / f"run-{len(runs):06d}.parquet")
        pq.write_table(table, runs[-1])
        pending, held = [], 0

    for data in batches:
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        pending.append(table.select(schema.names).cast(schema))
        held += table.num_rows
        if held >= run_rows:
            spill()
    if not runs:  # everything fits in one run: no file, no merge
        if pending:
            sorted_all = pa.concat_tables(pending).sort_by([(k, "ascending") for k in keys])
            yield from (pa.Table.from_batches([b]) for b in sorted_all.to_batches(BATCH_ROWS))
        return
    if pending:
        spill()
    per_run = max(256, MERGE_ROWS // len(runs))

    def rows_of(run: Path) -> Iterator[tuple[Any, ...]]:
        with pq.ParquetFile(run) as file:
            for batch in file.iter_batches(batch_size=per_run):
                yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)

    merged = heapq.merge(*(rows_of(r) for r in runs), key=itemgetter(*(schema.names.index(k) for k in keys)))
    chunk: list[tuple[Any, ...]] = []
    for row in merged:  # rows as tuples, not dicts: the merge window holds MERGE_ROWS of them
        chunk.append(row)
        if len(chunk) == BATCH_ROWS:
            yield _from_tuples(chunk, schema)
            chunk = []
    if chunk:
        yield _from_tuples(chunk, schema)


def _from_tuples(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    columns = zip(*rows, strict=True)
    return pa.Table.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def row_tables(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[pa.Table]:
    """`rows` (dicts with the schema's columns) as tables of at most BATCH_ROWS rows: the row groups
    a `TableWriter` writes, so a stream of rows is never one list."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH_ROWS:
            yield pa.Table.from_pylist(chunk, schema=schema)
            chunk = []
    if chunk:
        yield pa.Table.from_pylist(chunk, schema=schema)


def join_sorted(
    left: Iterable[pa.Table], right: Iterable[pa.Table], key: str, *, keep_unmatched: bool = False
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Join of two streams of tables sorted by `key`, row by row: each `left` row with the first
    `right` row of its key; a `left` row without one is dropped, or paired with None when
    `keep_unmatched` (a left join). Holds one table of each stream, where a lookup dict would hold
    all of `right`."""
    others = (row for table in right for row in table.to_pylist())
    other = next(others, None)
    for table in left:
        for row in table.to_pylist():
            while other is not None and other[key] < row[key]:
                other = next(others, None)
            if other is not None and other[key] == row[key]:
                yield row, other
            elif keep_unmatched:
                yield row, None


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large shards need no memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _jsonable(x: Any) -> Any:
    """JSON stand-ins for what `json` cannot write: an array by its dtype, shape and bytes' sha256
    (an array of Python objects by its items)."""
    if isinstance(x, np.ndarray) and x.dtype.hasobject:
        return x.tolist()
    if isinstance(x, np.ndarray):
        data = np.ascontiguousarray(x)
        return {
            "dtype": str(data.dtype),
            "shape": list(data.shape),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    raise TypeError(f"fingerprint: cannot fingerprint a {type(x).__name__}")


def fingerprint(doc: Any, length: int = 12) -> str:
    """A content id of `doc` (JSON-able; numpy arrays and paths allowed): the first `length` hex
    digits of sha256 over its key-sorted JSON. Equal documents give equal ids whatever their key
    order, so a stage stores it beside an output and reuses the output only while it matches."""
    text = json.dumps(doc, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
