"""Weight files fetched from a URL, kept where torch.hub keeps them and checked against a published
SHA-256 before use, every time they are used (a truncated or tampered cache is caught too).

Why not `torch.hub.load_state_dict_from_url(check_hash=True)`: it checks only a hash prefix found in
the file name, only right after downloading, and leaves the cached file in place when the check fails.
Here the expected hash is a parameter (the full SHA-256, or the prefix a release publishes in its file
name, torch.hub's convention), a mismatch removes the file and stops the stage (exit status 2) naming
the file and the expected hash, and a URL with no published hash is refused rather than trusted.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import torch

from facerep.errors import InputError, MissingModelError
from facerep.io import sha256_file

# torch.hub's convention: `<name>-<first hex digits of the file's sha256>.<ext>`.
NAME_HASH = re.compile(r"-([a-f0-9]{8,64})\.")


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def published_hash(url: str, sha256: str | None) -> str:
    """The hash a download from `url` must have: `sha256` when given, else the file name's prefix."""
    if sha256:
        if not re.fullmatch(r"[a-f0-9]{8,64}", sha256):
            raise InputError(f"{sha256!r}: not a SHA-256 (or a prefix of 8 or more of its hex digits)")
        return sha256
    match = NAME_HASH.search(Path(urlparse(url).path).name)
    if match is None:
        raise InputError(
            f"{url}: no SHA-256 is published in the file name; set the parameter's sha256 to the file's "
            "published SHA-256 (facerep does not use unchecked downloads)"
        )
    return match[1]


def verify(path: Path, expected: str, parameter: str, downloaded: bool = True) -> Path:
    """`path` if its SHA-256 starts with `expected`; otherwise the stage stops, and a downloaded file
    is removed (a user's own file is never deleted)."""
    actual = sha256_file(path)
    if not actual.startswith(expected):
        if downloaded:
            path.unlink()
        fate = "the download was removed: fetch it again" if downloaded else "a different or damaged file"
        raise InputError(
            f"{path}: SHA-256 {actual} does not match the published {expected} ({fate}; "
            f"or check `{parameter}` and its sha256)"
        )
    return path


def fetch(url: str, sha256: str | None, parameter: str) -> Path:
    """The checked local copy of a weight file published at `url`, downloaded once into
    `$TORCH_HOME/hub/checkpoints`. Offline and uncached: `MissingModelError` naming file and URL."""
    expected = published_hash(url, sha256)
    name = Path(urlparse(url).path).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not cached.is_file():
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            # Writes to a temporary file and renames it into place: no half-written file under `name`.
            torch.hub.download_url_to_file(url, str(cached), progress=False)
        except Exception as exc:  # any network or HTTP failure means: the file is not available here
            what = f"{name} (download failed: {exc.__class__.__name__})"
            raise MissingModelError(what, url, parameter) from exc
    return verify(cached, expected, parameter)
