"""A loopback Flickr: the parts of the REST API the harvester uses, plus an image host with faults.

`flickr.photos.search` (GET or POST, JSON) with tag, licence and inclusive upload-date filters,
`date-posted-asc` paging, the result cap (4,000 on Flickr; lower it with `cap` to exercise window
splitting), `stat: fail` answers for a wrong key or method, and injected 500 / 429 (Retry-After)
answers. The image host serves good JPEGs and every kind of broken file the harvester must survive.
It listens on 127.0.0.1 only, in a daemon thread, and counts what it served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image

KINDS_BROKEN = (
    "missing",
    "truncated",
    "zero",
    "notimage",
    "bomb",
    "unsupported",
    "noai",
    "flaky500",
    "flaky429",
    "dup",
    "nourl",
    "no_c",  # lists no url_c: the harvester falls back to the next size (url_z)
    "small",  # lists only sizes under harvest.flickr.min_side: too_small
)
# The longer side Flickr lists for each size (`width_<x>`); the image served is the same small JPEG.
SIZE_SIDES = {
    "url_n": 320,
    "url_z": 640,
    "url_c": 800,
    "url_b": 1024,
    "url_h": 1600,
    "url_k": 2048,
    "url_o": 3000,
}
# "down" (always 503) is not in the cycle: tests flip a photo to it to check transient failures.
API_PATH = "/services/rest/"


@dataclass(frozen=True)
class FakePhoto:
    id: str
    owner: str
    ownername: str
    license: int
    upload: int
    tags: tuple[str, ...]
    kind: str = "good"
    dup_of: str | None = None


def epoch(date: str) -> int:
    return int(dt.datetime.combine(dt.date.fromisoformat(date), dt.time(), dt.UTC).timestamp())


def make_photos(
    n: int,
    tags: list[str],
    *,
    seed: int = 0,
    start: str = "2015-01-01",
    end: str = "2020-01-01",
    licenses: tuple[int, ...] = (0, 1, 2, 4, 5, 7, 9, 10, 11, 14),
    broken_every: int = 25,
    same_second: int = 0,
) -> list[FakePhoto]:
    """`n` photos with 1-3 of `tags`, random upload times in [start, end), random licences, and one
    broken photo (cycling through KINDS_BROKEN) every `broken_every`; `same_second` photos share the
    last upload second (a burst no date split can break)."""
    rng = random.Random(seed)
    lo, hi = epoch(start), epoch(end)
    photos: list[FakePhoto] = []
    broken = 0
    for i in range(n):
        pid = str(50_000_000_000 + rng.randrange(10**9) * 8 + i % 8)
        kind, dup_of = "good", None
        if broken_every and i % broken_every == broken_every - 1:
            kind = KINDS_BROKEN[broken % len(KINDS_BROKEN)]
            broken += 1
            if kind == "dup":
                dup_of = next(p.id for p in reversed(photos) if p.kind == "good")
        upload = hi - 1 if i < same_second else rng.randrange(lo, hi)
        photos.append(
            FakePhoto(
                id=pid,
                owner=f"{rng.randrange(10**8)}@N0{rng.randrange(10)}",
                ownername=f"user {rng.randrange(10**4)}",
                license=rng.choice(licenses),
                upload=upload,
                tags=tuple(rng.sample(tags, rng.randint(1, min(3, len(tags))))),
                kind=kind,
                dup_of=dup_of,
            )
        )
    return photos


def _base_images(image_kb: int) -> list[bytes]:
    """A few noise JPEGs of about `image_kb` KB (noise compresses badly, so the size is predictable)."""
    rng = np.random.default_rng(7)
    side = max(16, int(math.sqrt(image_kb * 1024 / 0.6)))  # about 0.6 bytes per noise pixel at q75
    out = []
    for _ in range(8):
        arr = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=75)
        out.append(buf.getvalue())
    return out


@dataclass
class FakeFlickr:
    """The server state: photos, faults, and counters of what was served."""

    photos: list[FakePhoto]
    api_key: str = "fake-key-0123456789abcdef"
    cap: int = 4000
    leak_licenses: bool = True
    api_fail_every: int = 0
    api_429_every: int = 0
    retry_after: int = 1
    image_delay: float = 0.0
    image_kb: int = 1
    stat_fail: tuple[int, str] | None = None
    api_calls: int = 0
    image_gets: Counter = field(default_factory=Counter)
    image_served: Counter = field(default_factory=Counter)
    retry_log: list[tuple[str, int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.photos}
        self._bases = _base_images(self.image_kb)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- content -----------------------------------------------------------------------------------
    def good_bytes(self, pid: str) -> bytes:
        """A valid JPEG unique to `pid`: a base image with a trailer after its end-of-image marker."""
        base = self._bases[int(hashlib.md5(pid.encode()).hexdigest(), 16) % len(self._bases)]
        return base + b"fake-flickr:" + pid.encode()

    def image_bytes(self, p: FakePhoto) -> bytes:
        """What the host serves for a photo (after its transient faults)."""
        if p.kind == "dup":
            return self.good_bytes(p.dup_of or "")
        if p.kind == "truncated":
            data = self.good_bytes(p.id)
            return data[: len(data) // 2]
        if p.kind == "zero":
            return b""
        if p.kind == "notimage":
            return b"<html><body>Photo not available</body></html>"
        if p.kind == "bomb":
            buf = io.BytesIO()
            Image.new("L", (400, 400)).save(buf, format="PNG")
            return buf.getvalue()
        if p.kind == "unsupported":
            buf = io.BytesIO()
            Image.new("RGB", (32, 24), (200, 10, 10)).save(buf, format="GIF")
            return buf.getvalue()
        return self.good_bytes(p.id)

    def sha256(self, p: FakePhoto) -> str:
        return hashlib.sha256(self.image_bytes(p)).hexdigest()

    # --- API ---------------------------------------------------------------------------------------
    def search(self, q: dict[str, str]) -> dict:
        if q.get("api_key") != self.api_key:
            return {"stat": "fail", "code": 100, "message": "Invalid API Key (Key not found)"}
        if self.stat_fail:
            return {"stat": "fail", "code": self.stat_fail[0], "message": self.stat_fail[1]}
        if q.get("method") != "flickr.photos.search":
            return {"stat": "fail", "code": 112, "message": f'Method "{q.get("method")}" not found'}
        tag = q.get("tags", "")
        lo = int(q.get("min_upload_date", 0))
        hi = int(q.get("max_upload_date", 2**40))
        allowed = {int(v) for v in q["license"].split(",")} if q.get("license") else None
        per_page = min(500, int(q.get("per_page", 100)))
        page = max(1, int(q.get("page", 1)))
        sizes = [e for e in q.get("extras", "").split(",") if e.startswith("url_")]
        hits = [
            p
            for p in self.photos
            if tag in p.tags
            and lo <= p.upload <= hi
            and (self.leak_licenses or allowed is None or p.license in allowed)
        ]
        hits.sort(key=lambda p: (p.upload, p.id))
        start = (page - 1) * per_page
        shown = hits[start : min(start + per_page, self.cap)] if start < self.cap else []
        return {
            "photos": {
                "page": page,
                "pages": math.ceil(len(hits) / per_page),
                "perpage": per_page,
                "total": str(len(hits)),
                "photo": [self._photo_json(p, sizes) for p in shown],
            },
            "stat": "ok",
        }

    def _photo_json(self, p: FakePhoto, sizes: list[str]) -> dict:
        d = {
            "id": p.id,
            "owner": p.owner,
            "secret": "abc",
            "server": "65535",
            "farm": 66,
            "title": f"photo {p.id}",
            "ispublic": 1,
            "license": str(p.license),
            "ownername": p.ownername,
            "dateupload": str(p.upload),
        }
        for size in sizes:
            if p.kind == "nourl" or (p.kind == "no_c" and size == "url_c"):
                continue
            side = 300 if p.kind == "small" else SIZE_SIDES[size]
            d[size] = f"{self.url}/img/{p.id}.jpg?{size}"
            d["width" + size[3:]] = side
            d["height" + size[3:]] = side * 3 // 4
        return d

    # --- serving -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    def start(self) -> FakeFlickr:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeFlickr:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(state: FakeFlickr) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _api(self, q: dict[str, str]) -> None:
            with state._lock:
                state.api_calls += 1
                n = state.api_calls
            if state.api_fail_every and n % state.api_fail_every == 0:
                self._send(500, b"internal error", "text/plain")
                return
            if state.api_429_every and n % state.api_429_every == 0:
                self._send(429, b"slow down", "text/plain", {"Retry-After": str(state.retry_after)})
                return
            self._send(200, json.dumps(state.search(q)).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            self._api({k: v[0] for k, v in form.items()})

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == API_PATH:
                self._api({k: v[0] for k, v in parse_qs(url.query).items()})
                return
            pid = url.path.rsplit("/", 1)[-1].split(".")[0]
            p = state.by_id.get(pid) if url.path.startswith("/img/") else None
            with state._lock:
                state.image_gets[pid] += 1
                attempt = state.image_gets[pid]
            if state.image_delay:
                time.sleep(state.image_delay)
            if p is None or p.kind == "missing":
                self._send(404, b"not found", "text/plain")
                return
            if p.kind == "down" or (p.kind == "flaky500" and attempt == 1):
                self._send(503, b"try later", "text/plain")
                return
            if p.kind == "flaky429" and attempt == 1:
                with state._lock:
                    state.retry_log.append((pid, attempt, time.monotonic()))
                self._send(429, b"slow down", "text/plain", {"Retry-After": str(state.retry_after)})
                return
            if p.kind == "flaky429":
                with state._lock:
                    state.retry_log.append((pid, attempt, time.monotonic()))
            headers = {"X-Robots-Tag": "noindex, noai"} if p.kind == "noai" else {}
            ctype = "image/png" if p.kind == "bomb" else "image/jpeg"
            with state._lock:
                state.image_served[pid] += 1
            self._send(200, state.image_bytes(p), ctype, headers)

    return Handler


def expected_status(p: FakePhoto, allowed: set[int]) -> str:
    """The manifest status the harvester must give `p` (before content de-duplication)."""
    if p.license not in allowed:
        return "license_not_allowed"
    return {
        "missing": "http_404",
        "truncated": "truncated",
        "zero": "zero_bytes",
        "notimage": "not_an_image",
        "bomb": "decompression_bomb",
        "unsupported": "unsupported_format",
        "noai": "robots_optout",
        "nourl": "no_url",
        "small": "too_small",
    }.get(p.kind, "ok")


def expected_size(p: FakePhoto) -> str | None:
    """The size the harvester must record for `p` under the default sizes (url_c, url_z, ...)."""
    return {"nourl": None, "no_c": "url_z"}.get(p.kind, "url_c")


def serve_forever(n: int, tags: list[str], **kwargs: object) -> None:
    """Run a fake Flickr in this process until killed (the benchmark's separate server process)."""
    import sys

    image_kb = int(kwargs.pop("image_kb", 50))  # type: ignore[arg-type]
    photos = make_photos(n, tags, broken_every=0, licenses=(4,))
    server = FakeFlickr(photos, image_kb=image_kb, **kwargs).start()  # type: ignore[arg-type]
    sys.stdout.write(json.dumps({"api_url": server.api_url, "api_key": server.api_key}) + "\n")
    sys.stdout.flush()
    threading.Event().wait()
