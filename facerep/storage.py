"""Files on a local path or an fsspec URL (`s3://`, `gs://`, `ftp://`, `memory://`, ...): the one place
that talks to fsspec for stage outputs that are not shards (the shard loader streams its own).

`location(text)` turns a parameter value into a `Path` (plain paths and `file://` URLs: a local file
system keeps its atomic temp-file + rename) or a `URLPath`, a small path-like handle (`/`, `name`,
`parent`, `is_file()`) so that code written for `Path`, such as the pre-training engine, runs unchanged
on a remote folder. The functions below take either.

Writes are all-or-nothing where the store allows it: locally through `facerep.io.atomic_path`; remotely
the whole object is sent in one put, which object stores (S3, GCS, Azure) make atomic, so a reader sees
the previous object or the new one, never a torn one. Plain remote file systems (FTP, SFTP) write in
place and give no such guarantee. Remote failures are re-raised as `StorageError` naming the URL.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import fsspec
from fsspec.utils import get_protocol

from facerep.errors import FacerepError
from facerep.io import atomic_path, write_bytes

LOCAL_PROTOCOLS = ("file", "local")


class StorageError(FacerepError):
    """A remote read or write failed (network, permissions): the message names the URL."""


@dataclass(frozen=True, repr=False)
class URLPath:
    """A file or folder at an fsspec URL, with just enough of `Path` for code that joins and tests paths."""

    url: str

    def __truediv__(self, part: str) -> URLPath:
        return URLPath(f"{self.url.rstrip('/')}/{part.lstrip('/')}")

    def __str__(self) -> str:
        """The URL with any password masked: this is what messages, logs and stage summaries show."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    def __repr__(self) -> str:
        return f"URLPath({str(self)!r})"

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> URLPath:
        return URLPath(self.url.rstrip("/").rsplit("/", 1)[0])

    def is_file(self) -> bool:
        return exists(self)


Location = Path | URLPath


def is_url(path: str | os.PathLike[str] | URLPath) -> bool:
    """True for a URL of a non-local fsspec file system (`file://` counts as local)."""
    return isinstance(path, URLPath) or get_protocol(str(path)) not in LOCAL_PROTOCOLS


def location(path: str | os.PathLike[str] | URLPath) -> Location:
    """`path` as a `Path` when it is local (a `file://` URL loses its prefix), else as a `URLPath`."""
    if is_url(path):
        return path if isinstance(path, URLPath) else URLPath(str(path))
    text = str(path)
    return Path(fsspec.core.strip_protocol(text) if "://" in text else text)


def _fs(p: URLPath) -> tuple[Any, str]:
    """The fsspec file system and the path inside it (fsspec caches one instance per host and options;
    some, FTP for one, connect here)."""
    return fsspec.core.url_to_fs(p.url)


@contextlib.contextmanager
def _naming(p: URLPath) -> Iterator[None]:
    """Re-raise a remote OSError as StorageError naming the URL (fsspec's messages often omit it)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageError(f"{p}: {type(exc).__name__}: {exc}") from exc


def exists(p: Location) -> bool:
    """Whether `p` is an existing file."""
    if isinstance(p, Path):
        return p.is_file()
    with _naming(p):
        fs, path = _fs(p)
        return bool(fs.isfile(path))


def read_bytes(p: Location) -> bytes:
    """The whole content of `p` (one get for a URL); FileNotFoundError when it is missing."""
    if isinstance(p, Path):
        return p.read_bytes()
    with _naming(p):
        fs, path = _fs(p)
        return bytes(fs.cat_file(path))


@contextlib.contextmanager
def read_source(p: Location) -> Iterator[Path | BinaryIO]:
    """What `torch.load` should read for `p`: a local path as is; a remote file fetched in one get into
    memory, because `torch.load` seeks back and forth, which costs a round trip each on most stores."""
    yield p if isinstance(p, Path) else io.BytesIO(read_bytes(p))


def write_bytes_atomic(p: Location, data: bytes) -> None:
    """Write `data` to `p` all at once: temp file + rename locally, one put remotely (see the module doc)."""
    if isinstance(p, Path):
        write_bytes(p, data)
        return
    with _naming(p):
        fs, path = _fs(p)
        fs.makedirs(posixpath.dirname(path), exist_ok=True)  # object stores: a no-op; FTP and friends need it
        fs.pipe_file(path, data)


@contextlib.contextmanager
def atomic_target(p: Location) -> Iterator[Path | BinaryIO]:
    """Where `torch.save` should write `p`, published only if the block succeeds: locally a temp file
    renamed onto `p` (`facerep.io.atomic_path`, large checkpoints stream to disk), remotely a buffer
    sent in one put."""
    if isinstance(p, Path):
        with atomic_path(p) as tmp:
            yield tmp
        return
    buf = io.BytesIO()
    yield buf
    write_bytes_atomic(p, buf.getvalue())


def glob(root: Location, pattern: str) -> list[Location]:
    """Files under `root` matching `pattern` (as `Path.glob`), sorted; none when `root` does not exist."""
    if isinstance(root, Path):
        return sorted(root.glob(pattern)) if root.is_dir() else []
    with _naming(root):
        fs, base = _fs(root)
        base = base.rstrip("/")
        found = fs.glob(f"{base}/{pattern}") if fs.isdir(base) else []
    # Matches come back as paths inside the file system; rebuild them on the root URL, which keeps the
    # host, port and credentials that fsspec strips.
    return [root / m[len(base) :] for m in sorted(found)]
