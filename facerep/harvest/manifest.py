"""The harvest manifest (DESIGN section 2) and the per-source journal that makes it kill-safe.

Every finished item is appended to `<paths.raw>/.journal/<source>.jsonl` *after* its file is
atomically in place, and the append is fsync'd; a re-run skips journaled items. The final
`manifest.parquet` is rebuilt from the rows of the current run (journaled or new), de-duplicated by
`image_id` and by content sha256 and sorted by `image_id`, so an interrupted-then-resumed harvest
writes exactly the bytes an uninterrupted one writes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facerep.io import atomic_path, fingerprint

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
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._queued = 0  # lines handed to append so far
        self._durable = 0  # lines written and fsync'd so far
        self._flushing = False
        self._error: BaseException | None = None
        self.items: dict[str, list[dict[str, Any]]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_and_load()
        self._fh = open(path, "ab")  # noqa: SIM115 - held for the whole harvest, closed in close()

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        for line in data[:end].splitlines():
            if line.strip():
                record = json.loads(line)
                self.items[record["item"]] = record["rows"]

    def __contains__(self, item: str) -> bool:
        return item in self.items

    def rows(self, item: str) -> list[dict[str, Any]]:
        return self.items[item]

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
            self.items[item] = rows

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

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def journal_path(raw: Path, source: str, settings: dict[str, Any] | None = None) -> Path:
    """`<raw>/.journal/<source>/<fingerprint>.jsonl`: one journal per combination of the settings that
    shape a source's rows, so changing one (say `voxceleb.fps`) redoes the work instead of reusing rows
    made under the old value."""
    return raw / ".journal" / source / f"{fingerprint(settings or {})}.jsonl"


def build_manifest(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows -> the manifest table: one row per image_id, sorted, content duplicates marked.

    Among `ok` rows sharing a sha256 the first by image_id stays `ok`; the others become `duplicate`
    with `dup_of` naming it and a null `path`, so later stages see each picture once. The order of
    the input does not matter, which is what makes a resumed harvest equal an uninterrupted one.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_id.setdefault(r["image_id"], r)
    ordered = [dict(by_id[k]) for k in sorted(by_id)]
    first_of: dict[str, str] = {}
    for r in ordered:
        if r["status"] != OK:
            continue
        owner = first_of.setdefault(r["sha256"], r["image_id"])
        if owner != r["image_id"]:
            r.update(status=DUPLICATE, dup_of=owner, path=None)
    return pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in ordered], schema=SCHEMA)


def write_manifest(path: Path, table: pa.Table) -> None:
    """Write the manifest atomically with its fixed schema (all-null columns keep their types)."""
    with atomic_path(path, durable=True) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The manifest as a DataFrame; width/height stay integers (nullable) where rows are rejected."""
    return pq.read_table(path).to_pandas(types_mapper=_nullable)


def _nullable(dtype: pa.DataType) -> Any:
    if pa.types.is_int32(dtype):
        return pd.Int32Dtype()
    return None


def summarize(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts per status, per source and per licence (ok items), for the closing table and MLflow."""
    ok = df[df["status"] == OK]
    return {
        "status": {str(k): int(v) for k, v in df["status"].value_counts().sort_index().items()},
        "source": {str(k): int(v) for k, v in ok["source"].value_counts().sort_index().items()},
        "license": {
            str(k): int(v) for k, v in ok["license"].fillna("none").value_counts().sort_index().items()
        },
    }
