"""The harvest manifest (DESIGN section 2) and the per-source journal that makes it kill-safe.

Every finished item is appended to `<paths.raw>/.journal/<source>.jsonl` *after* its file is
atomically in place, and the append is fsync'd; a re-run skips journaled items. The final
`manifest.parquet` is rebuilt from the rows of the current run (journaled or new), de-duplicated by
`image_id` and by content sha256 and sorted by `image_id`, so an interrupted-then-resumed harvest
writes exactly the bytes an uninterrupted one writes.

Memory does not grow with the number of items: rows stream from the journals through an external
sort (`facerep.io.external_sort`) into the manifest, row group by row group; what is held per item
is the journal's key index of earlier runs and, for the content de-duplication, 40 bytes per ok row
(position and a digest of its sha256) in numpy arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facerep.io import TableWriter, external_sort, fingerprint, iter_table, row_tables

OK = "ok"
DUPLICATE = "duplicate"

SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("source", pa.string()),
        ("uri", pa.string()),
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("license", pa.string()),
        ("owner", pa.string()),
        ("status", pa.string()),
        ("page_url", pa.string()),
        ("tag", pa.string()),
        ("flickr_size", pa.string()),
        ("video_id", pa.string()),
        ("frame_time", pa.float64()),
        ("speaker_id", pa.string()),
        ("dup_of", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


@dataclass(frozen=True)
class Naming:
    """How a source names its rows and files: the `source` column, the image-id prefix, the folder
    under `paths.raw` its files go to, and the licence every row carries (SynthFaces reads its scenes
    and videos with the folder's and VoxCeleb's code under names of its own)."""

    source: str
    id_prefix: str
    out_prefix: str
    license: str | None


def make_row(image_id: str, source: str, uri: str, status: str, **fields: Any) -> dict[str, Any]:
    """A manifest row with every column present (absent ones null); unknown columns are errors."""
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise KeyError(f"not manifest columns: {sorted(unknown)}")
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(image_id=image_id, source=source, uri=uri, status=status, **fields)
    return row


class Journal:
    """An append-only JSONL record of finished work items for one source.

    An item (a photo, a folder file, a whole video clip) is recorded with all its manifest rows in one
    line. `append` returns only once its line is written and fsync'd, so after a crash the file holds
    every completed item plus at most one torn last line, which opening the journal cuts off.

    Appends from many threads are group-committed: the first waiting thread writes every pending line
    and fsyncs once for all of them while the others wait, so concurrent downloads share one fsync
    instead of queueing one each.

    Memory: only the items of earlier runs are indexed (key -> line number, and the line offsets), so
    a re-run can skip them; rows stay on disk and are read back by `rows` and `run_rows`. Lines
    appended by this run are not indexed (a source lists each key once per run).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._queued = 0  # lines handed to append so far
        self._durable = 0  # lines written and fsync'd so far
        self._flushing = False
        self._error: BaseException | None = None
        self.items: dict[str, int] = {}  # key of an earlier run's item -> its line number
        self._offsets = array("q")  # byte offset of each earlier line
        self._reused = bytearray()  # per earlier line: 1 once this run listed its item again
        self._read_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_and_index()
        self._fh = open(path, "ab")  # noqa: SIM115 - held for the whole harvest, closed in close()
        self._reader = open(path, "rb")  # noqa: SIM115 - closed in close()

    def _repair_and_index(self) -> None:
        """Index the whole lines (streamed: one line in memory), cutting off a torn last one."""
        if not self.path.exists():
            return
        offset, torn = 0, None
        with open(self.path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    torn = offset
                    break
                if line.strip():
                    item = json.loads(line)["item"]
                    self.items[item] = len(self._offsets)  # a repeated key: the last line wins
                    self._offsets.append(offset)
                offset += len(line)
        self._reused = bytearray(len(self._offsets))
        if torn is not None:
            with open(self.path, "r+b") as fh:
                fh.truncate(torn)
                fh.flush()
                os.fsync(fh.fileno())

    def __contains__(self, item: str) -> bool:
        return item in self.items

    def _line(self, number: int) -> dict[str, Any]:
        with self._read_lock:
            self._reader.seek(self._offsets[number])
            return json.loads(self._reader.readline())

    def rows(self, item: str) -> list[dict[str, Any]]:
        """The rows an earlier run recorded for `item` (read from the file)."""
        return self._line(self.items[item])["rows"]

    def reuse(self, item: str) -> None:
        """Count an earlier run's `item` as part of this run (its rows go to `run_rows`)."""
        self._reused[self.items[item]] = 1

    def run_rows(self) -> Iterator[list[dict[str, Any]]]:
        """Per item of this run, its rows: the earlier lines passed to `reuse`, then every line
        appended since opening; streamed from the file, one line at a time."""
        with self._cond:
            self._fh.flush()
        number = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                earlier = number < len(self._offsets)
                if not earlier or self._reused[number]:
                    yield json.loads(line)["rows"]
                number += 1

    def append(self, item: str, rows: list[dict[str, Any]]) -> None:
        """Durably record a finished item (its files must already be in place)."""
        line = json.dumps({"item": item, "rows": rows}, sort_keys=True).encode() + b"\n"
        with self._cond:
            self._pending.append(line)
            self._queued += 1
            mine = self._queued
            while self._durable < mine:
                if self._error is not None:
                    raise OSError(f"{self.path}: journal write failed") from self._error
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flush_pending()

    def _flush_pending(self) -> None:
        """Write and fsync every pending line (called holding the condition; released while writing)."""
        batch, self._pending, upto = self._pending, [], self._queued
        self._flushing = True
        self._cond.release()
        try:
            self._fh.write(b"".join(batch))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._cond.acquire()
            self._flushing = False
            if self._error is None:
                self._durable = upto
            self._cond.notify_all()

    def close(self) -> None:
        self._fh.close()
        self._reader.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def journal_path(raw: Path, source: str, settings: dict[str, Any] | None = None) -> Path:
    """`<raw>/.journal/<source>/<fingerprint>.jsonl`: one journal per combination of the settings that
    shape a source's rows, so changing one (say `voxceleb.fps`) redoes the work instead of reusing rows
    made under the old value."""
    return raw / ".journal" / source / f"{fingerprint(settings or {})}.jsonl"


def write_manifest(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Rows -> the manifest at `path` (atomic, fsynced, fixed schema): one row per image_id, sorted,
    content duplicates marked.

    Among `ok` rows sharing a sha256 the first by image_id stays `ok`; the others become `duplicate`
    with `dup_of` naming it and a null `path`, so later stages see each picture once. The order of
    the input does not matter (for a repeated image_id the first row given wins), which is what makes
    a resumed harvest equal an uninterrupted one. Two streaming passes over a sorted scratch copy:
    the first finds the duplicates from compact arrays, the second marks them while writing.
    """
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp") as scratch:
        tables = row_tables(({c: r.get(c) for c in COLUMNS} for r in rows), SCHEMA)
        unique = Path(scratch) / "unique.parquet"
        positions, digests = array("q"), bytearray()
        last: str | None = None
        with TableWriter(unique, SCHEMA) as out:
            for table in external_sort(tables, ["image_id"], SCHEMA, scratch):
                ids = table.column("image_id").to_pylist()
                keep = [i != p for i, p in zip(ids, [last, *ids[:-1]], strict=True)]
                last = ids[-1]
                table = table.filter(pa.array(keep))
                status, sha = table.column("status").to_pylist(), table.column("sha256").to_pylist()
                for k, (st, h) in enumerate(zip(status, sha, strict=True)):
                    if st == OK and h is not None:
                        positions.append(out.rows + k)
                        digests += hashlib.sha256(h.encode()).digest()
                out.write(table)
        dup_pos, owner_pos = _content_duplicates(np.asarray(positions, np.int64), bytes(digests))
        _mark_duplicates(unique, path, dup_pos, owner_pos)


def _content_duplicates(positions: np.ndarray, digests: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the rows whose content an earlier row has, sorted; that earlier row's position),
    from each ok row's position and 32-byte sha256 digest: one lexsort, no per-row object."""
    if not len(positions):
        return positions, positions
    words = np.frombuffer(digests, dtype="<u8").reshape(-1, 4)
    order = np.lexsort((positions, words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
    w, pos = words[order], positions[order]
    starts = np.ones(len(pos), bool)
    starts[1:] = (w[1:] != w[:-1]).any(axis=1)
    owner = pos[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    dup = owner != pos
    by_pos = np.argsort(pos[dup], kind="stable")
    return pos[dup][by_pos], owner[dup][by_pos]


def _mark_duplicates(unique: Path, path: Path, dup_pos: np.ndarray, owner_pos: np.ndarray) -> None:
    """Copy the sorted `unique` table to `path`, making the rows at `dup_pos` duplicates of the rows
    at `owner_pos` (always earlier, so each owner's image_id is known when its duplicates come; it
    is forgotten after its last duplicate)."""
    by_owner = np.argsort(owner_pos, kind="stable")
    owners, first = np.unique(owner_pos[by_owner], return_index=True)
    last_use = np.maximum.reduceat(dup_pos[by_owner], first) if len(owners) else owners
    owner_ids: dict[int, str] = {}
    start = 0
    with TableWriter(path, SCHEMA, durable=True) as out:
        for batch in iter_table(unique, COLUMNS):
            table = pa.Table.from_batches([batch])
            end = start + table.num_rows
            ids = table.column("image_id").to_pylist()
            lo, hi = np.searchsorted(owners, [start, end])
            owner_ids.update((int(p), ids[p - start]) for p in owners[lo:hi])
            lo, hi = np.searchsorted(dup_pos, [start, end])
            if hi > lo:
                status = table.column("status").to_pylist()
                dup_of = table.column("dup_of").to_pylist()
                where = table.column("path").to_pylist()
                for p, o in zip(dup_pos[lo:hi], owner_pos[lo:hi], strict=True):
                    k = int(p) - start
                    status[k], dup_of[k], where[k] = DUPLICATE, owner_ids[int(o)], None
                for name, values in (("status", status), ("dup_of", dup_of), ("path", where)):
                    i = SCHEMA.get_field_index(name)
                    table = table.set_column(i, SCHEMA.field(i), pa.array(values, pa.string()))
            out.write(table)
            for p in owners[(last_use >= start) & (last_use < end)].tolist():
                del owner_ids[p]
            start = end


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The manifest as a DataFrame; width/height stay integers (nullable) where rows are rejected."""
    return pq.read_table(path).to_pandas(types_mapper=_nullable)


def _nullable(dtype: pa.DataType) -> Any:
    if pa.types.is_int32(dtype):
        return pd.Int32Dtype()
    return None


def summarize(path: Path) -> dict[str, dict[str, int]]:
    """Counts per status, per source and per licence (ok items) of the manifest at `path`, streamed,
    for the closing table and MLflow."""
    status: Counter[str] = Counter()
    source: Counter[str] = Counter()
    licence: Counter[str] = Counter()
    for batch in iter_table(path, ["status", "source", "license"]):
        df = batch.to_pandas()
        status.update(df["status"].astype(str))
        ok = df[df["status"] == OK]
        source.update(ok["source"].astype(str))
        licence.update(ok["license"].fillna("none").astype(str))
    return {
        name: dict(sorted(c.items()))
        for name, c in (("status", status), ("source", source), ("license", licence))
    }
