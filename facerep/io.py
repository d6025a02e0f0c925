"""Atomic file writes: a stage never leaves a half-written output under its final name; and the
content ids (`fingerprint`, `sha256_file`) by which a stage decides whether earlier work still holds.

Every writer goes through a temporary file in the destination directory followed by
`os.replace`, which is atomic on POSIX file systems, so a crash (even kill -9) leaves
either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
