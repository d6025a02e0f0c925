"""facerep.storage on a local folder and on a real FTP server on the loopback interface (pyftpdlib)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from facerep.storage import (
    StorageError,
    URLPath,
    atomic_target,
    exists,
    glob,
    is_url,
    location,
    read_bytes,
    read_source,
    write_bytes_atomic,
)


@pytest.fixture
def ftp_url(ftp: tuple[str, Path]) -> str:
    return ftp[0]


@pytest.fixture(params=["local", "ftp"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Path | URLPath:
    """An empty folder: a local path, or a folder on the FTP server."""
    if request.param == "local":
        return location(str(tmp_path / "local"))
    return location(request.getfixturevalue("ftp_url") + "/store")


def test_local_paths_and_file_urls_are_paths_other_urls_are_url_paths(tmp_path: Path) -> None:
    assert location(str(tmp_path)) == tmp_path and not is_url(tmp_path)
    assert location(f"file://{tmp_path}") == tmp_path
    for url in ("s3://bucket/models", "ftp://host/models", "memory://x"):
        assert is_url(url) and location(url) == URLPath(url)
    p = location("s3://bucket/models/") / "pretrain" / "swav"
    assert p.url == "s3://bucket/models/pretrain/swav" and p.name == "swav"
    assert p.parent.url == "s3://bucket/models/pretrain"
    secret = URLPath("ftp://me:pw@host:21/m")  # messages and reprs hide passwords
    assert str(secret) == "ftp://me:***@host:21/m" and "pw" not in repr(secret)


def test_write_read_overwrite_and_glob(base: Path | URLPath) -> None:
    f = base / "pretrain" / "swav" / "backbone.pt"
    assert not exists(f) and glob(base / "pretrain", "*/backbone.pt") == []
    write_bytes_atomic(f, b"first")  # creates the missing folders
    write_bytes_atomic(base / "pretrain" / "byol" / "backbone.pt", b"other")
    write_bytes_atomic(base / "pretrain" / "byol" / "last.ckpt", b"not matched")
    assert exists(f) and read_bytes(f) == b"first"
    write_bytes_atomic(f, b"second")
    assert read_bytes(f) == b"second"
    found = glob(base / "pretrain", "*/backbone.pt")
    assert [p.parent.name for p in found] == ["byol", "swav"]
    assert read_bytes(found[1]) == b"second"  # matches keep the host, port and credentials
    with read_source(f) as source:
        assert (source.read_bytes() if isinstance(source, Path) else source.read()) == b"second"


def test_a_failed_write_leaves_the_previous_file(base: Path | URLPath) -> None:
    f = base / "last.ckpt"
    write_bytes_atomic(f, b"good")
    with pytest.raises(RuntimeError, match="crash"), atomic_target(f) as target:
        if isinstance(target, Path):
            target.write_bytes(b"half")
        else:
            target.write(b"half")
        raise RuntimeError("crash")
    assert read_bytes(f) == b"good"
    with atomic_target(f) as target:
        if isinstance(target, Path):
            target.write_bytes(b"new")
        else:
            target.write(b"new")
    assert read_bytes(f) == b"new"
    if isinstance(f, Path):
        assert sorted(p.name for p in f.parent.iterdir()) == ["last.ckpt"]  # no temp file left


def test_missing_file_and_unreachable_server() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = URLPath(f"ftp://facerep:secret@127.0.0.1:{port}/models/backbone.pt")
    with pytest.raises(StorageError, match=rf"ftp://facerep:\*\*\*@127\.0\.0\.1:{port}/models/backbone\.pt"):
        exists(url)


def test_missing_remote_file_reads_as_file_not_found(ftp_url: str) -> None:
    f = location(ftp_url) / "nothere.bin"
    assert not exists(f)
    with pytest.raises(FileNotFoundError):
        read_bytes(f)
