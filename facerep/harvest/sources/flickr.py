"""Flickr harvester: `flickr.photos.search` by tag, licence-checked, concurrent, resumable.

Bulat et al. (section 3.2, appendix C) show that uncurated faces from Flickr photos carrying 100
people-related tags pre-train a representation as good as curated datasets; this module collects such
photos legally:

- one search per tag over the upload-date window; Flickr serves at most 4,000 results per query, so a
  window with more is split in two recursively until every piece is under the cap (nothing reachable
  is missed); pages of a window are read in `date-posted-asc` order;
- every returned photo's licence is checked against `harvest.flickr.licenses` (the server-side filter
  is not trusted); licence name, owner and photo page are kept for attribution;
- API calls are spaced to `max_calls_per_hour`; the API key (env `FLICKR_API_KEY` only) travels in a
  POST body, so it is in no URL, log line, error message, journal or manifest;
- API answers are cached in `<paths.raw>/.journal/flickr_api.jsonl`, so a resumed harvest repeats no
  call; images download concurrently over one pooled httpx client with tenacity retries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from facerep.errors import FacerepError, InputError
from facerep.harvest.flickr_tags import BULAT_TAGS
from facerep.harvest.licenses import DEFAULT_ALLOWED, FLICKR_LICENSES, is_allowed, license_name
from facerep.harvest.manifest import Journal, journal_path, make_row
from facerep.harvest.net import (
    RateLimiter,
    RetryableHTTPError,
    failure_status,
    make_client,
    raise_for_retry,
    retrying,
    robots_optout,
)
from facerep.harvest.runner import Outcome
from facerep.harvest.source import Source, register
from facerep.harvest.validate import check_image, find_stored, store, upright_bytes
from facerep.paramsbase import StrictModel

if TYPE_CHECKING:
    from facerep.harvest.config import SharedParams

API_KEY_ENV = "FLICKR_API_KEY"
# Flickr's size suffixes (longer side): n 320, z 640, c 800, b 1024, h 1600, k 2048, o the original.
SizeKey = Literal["url_n", "url_z", "url_c", "url_b", "url_h", "url_k", "url_o"]
PERMANENT_HTTP = frozenset({400, 401, 403, 404, 410, 451})
log = logging.getLogger(__name__)


class FlickrParams(StrictModel):
    """The flickr.photos.search harvester (Bulat et al. appendix C)."""

    api_url: str = "https://api.flickr.com/services/rest/"
    tags: list[str] = Field(default_factory=lambda: list(BULAT_TAGS))
    licenses: list[int] = Field(default_factory=lambda: list(DEFAULT_ALLOWED))
    min_upload_date: str = "2005-01-01"
    max_upload_date: str = "2026-01-01"
    max_calls_per_hour: int = Field(3600, gt=0)
    per_page: int = Field(500, ge=1, le=500, description="results per API page (Flickr's maximum: 500)")
    result_cap: int = Field(4000, ge=1, description="results Flickr serves per query; larger windows split")
    max_photos: int | None = Field(None, ge=0, description="stop listing after this many photos (null: all)")
    sizes: list[SizeKey] = Field(
        default_factory=lambda: ["url_c", "url_z", "url_b", "url_o"],
        min_length=1,
        description="image sizes asked of the search, in order of preference; the first a photo has with "
        "its longer side at least min_side is downloaded (recorded in the manifest's flickr_size)",
    )
    min_side: int = Field(
        500, ge=0, description="longer side (px) a size must have to be taken; photos with none: too_small"
    )
    concurrency: int = Field(16, ge=1, le=256, description="concurrent image downloads")
    honor_noai: bool = Field(True, description="skip images served with X-Robots-Tag noai / noimageai")
    page_url: str = Field("https://www.flickr.com/photos", description="base of attribution page URLs")

    @field_validator("licenses")
    @classmethod
    def _known_licenses(cls, v: list[int]) -> list[int]:
        unknown = [i for i in v if i not in FLICKR_LICENSES]
        if unknown:
            raise ValueError(f"unknown Flickr licence ids {unknown}; known: {sorted(FLICKR_LICENSES)}")
        return v

    @field_validator("min_upload_date", "max_upload_date", mode="before")
    @classmethod
    def _iso_date(cls, v: object) -> object:
        """Accept YAML dates (`--set ...=2014-06-01` parses as a date) and check ISO strings."""
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, str):
            dt.date.fromisoformat(v)
        return v

    @model_validator(mode="after")
    def _ordered(self) -> FlickrParams:
        if self.min_upload_date >= self.max_upload_date:
            raise ValueError("min_upload_date must be before max_upload_date")
        return self


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise InputError(f"harvest.sources includes flickr: set the {API_KEY_ENV} environment variable")
    return key


def day_start(date: str) -> int:
    """Unix time of 00:00 UTC on an ISO date."""
    return int(dt.datetime.combine(dt.date.fromisoformat(date), dt.time(), dt.UTC).timestamp())


class FlickrAPI:
    """`flickr.photos.search` over POST, rate-limited, retried, with answers cached in a journal."""

    def __init__(
        self,
        shared: SharedParams,
        cfg: FlickrParams,
        api_key: str,
        client: httpx.Client,
        cache: Journal,
        limiter: RateLimiter,
    ) -> None:
        self.cfg, self.retries = cfg, shared.retries
        self._key = api_key
        self.client = client
        self.cache = cache
        self.limiter = limiter
        self.policy = retrying(shared)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def search(self, tag: str, lo: int, hi: int, page: int) -> dict[str, Any]:
        """One page of photos of `tag` uploaded in [lo, hi] (unix seconds, both inclusive as Flickr's)."""
        f = self.cfg
        query = {
            "method": "flickr.photos.search",
            "tags": tag,
            "license": ",".join(str(i) for i in f.licenses),
            "min_upload_date": str(lo),
            "max_upload_date": str(hi),
            "sort": "date-posted-asc",
            "content_type": "1",
            "media": "photos",
            "extras": ",".join(["license", "owner_name", "date_upload", *f.sizes]),
            "per_page": str(f.per_page),
            "page": str(page),
            "format": "json",
            "nojsoncallback": "1",
        }
        key = json.dumps(query, sort_keys=True)
        if key in self.cache:
            return self.cache.rows(key)[0]
        try:
            photos = self.policy(lambda: self._post(query))
        except (RetryableHTTPError, httpx.HTTPError) as exc:
            raise FacerepError(
                f"Flickr API {self.cfg.api_url} failed after {self.retries} attempts "
                f"({failure_status(exc)}) searching tag {tag!r}"
            ) from None
        self.cache.append(key, [photos])
        return photos

    def _post(self, query: dict[str, str]) -> dict[str, Any]:
        self.limiter.acquire()
        resp = raise_for_retry(self.client.post(self.cfg.api_url, data={**query, "api_key": self._key}))
        if resp.status_code != 200:
            raise FacerepError(f"Flickr API {self.cfg.api_url} answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise FacerepError(f"Flickr API {self.cfg.api_url} answered non-JSON") from None
        if body.get("stat") != "ok":
            message = self._scrub(str(body.get("message", "no message")))
            raise InputError(f"Flickr API error {body.get('code', '?')}: {message}")
        return body["photos"]


@dataclass(frozen=True)
class Listed:
    """A photo as listed by the search, with the first tag that found it."""

    photo: dict[str, Any]
    tag: str


def list_window(api: FlickrAPI, tag: str, lo: int, hi: int) -> Iterator[dict[str, Any]]:
    """Every photo of `tag` in [lo, hi], splitting the window while it holds more than the cap."""
    f = api.cfg
    first = api.search(tag, lo, hi, 1)
    total = int(first.get("total", 0))
    if total > f.result_cap and hi > lo:
        mid = (lo + hi) // 2
        yield from list_window(api, tag, lo, mid)
        yield from list_window(api, tag, mid + 1, hi)
        return
    if total > f.result_cap:
        log.warning("tag %r: %d photos uploaded in one second; Flickr serves %d", tag, total, f.result_cap)
    yield from first.get("photo", [])
    pages = math.ceil(min(total, f.result_cap) / f.per_page)
    for page in range(2, pages + 1):
        yield from api.search(tag, lo, hi, page).get("photo", [])


def list_photos(api: FlickrAPI) -> Iterator[Listed]:
    """Every photo over every tag, once each (the first tag in `harvest.flickr.tags` order wins), as
    the search pages come: the harvest downloads while it lists. Only photo ids are remembered."""
    f = api.cfg
    lo, hi = day_start(f.min_upload_date), day_start(f.max_upload_date) - 1
    seen: set[str] = set()
    for tag in f.tags:
        for photo in list_window(api, tag, lo, hi):
            if f.max_photos is not None and len(seen) >= f.max_photos:
                return
            if (pid := str(photo["id"])) not in seen:
                seen.add(pid)
                yield Listed(photo, tag)


def pick_size(photo: dict[str, Any], sizes: list[str], min_side: int) -> tuple[str | None, str]:
    """The size to download: the first of `sizes` the photo has with its longer side at least
    `min_side` (Flickr lists `width_<x>`/`height_<x>` beside `url_<x>`), as (its URL, its key); (None,
    "") when the photo lists no size at all, (None, key of its largest) when every size is too small."""
    listed = [(key, photo[key]) for key in sizes if photo.get(key)]
    if not listed:
        return None, ""

    def side(key: str) -> int:
        suffix = key.removeprefix("url")
        return max(int(photo.get(f"width{suffix}") or 0), int(photo.get(f"height{suffix}") or 0))

    for key, url in listed:
        if side(key) >= min_side:
            return str(url), key
    return None, max(listed, key=lambda kv: side(kv[0]))[0]


@register("flickr")
class FlickrSource(Source[Listed]):
    """Every photo the searches list (keyed `flickr:<id>`), downloaded over one pooled client.

    The listing's API answers are cached in a journal of their own (`.journal/flickr_api/`, keyed by
    the whole query), so a resumed harvest repeats no call.
    """

    params_model = FlickrParams
    rowless = frozenset({"max_calls_per_hour", "per_page", "result_cap", "max_photos", "concurrency"})
    unit = "images"

    def __enter__(self) -> FlickrSource:
        cfg: FlickrParams = self.section
        self.cfg, self.workers = cfg, cfg.concurrency
        self.limiter = RateLimiter(cfg.max_calls_per_hour)
        self.policy = retrying(self.shared)
        with contextlib.ExitStack() as stack:
            key = api_key_from_env()
            self.client = stack.enter_context(make_client(self.shared, cfg.concurrency))
            cache = stack.enter_context(Journal(journal_path(self.raw, "flickr_api")))
            self.api = FlickrAPI(self.shared, cfg, key, self.client, cache, self.limiter)
            self.opened = stack.pop_all()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.opened.close()

    def items(self) -> Iterator[tuple[str, Listed]]:
        self.listed = 0
        for it in list_photos(self.api):
            self.listed += 1
            yield f"flickr:{it.photo['id']}", it

    def metrics(self) -> dict[str, float]:
        return {"flickr_api_calls": float(self.limiter.calls), "flickr_listed": float(self.listed)}

    def work(self, item: Listed) -> Outcome:
        """Licence check, download (or reuse a file an interrupted run stored), validate."""
        f = self.cfg
        photo = item.photo
        pid = str(photo["id"])
        image_id = f"flickr:{pid}"
        owner_id = str(photo.get("owner", ""))
        url, size = pick_size(photo, f.sizes, f.min_side)
        meta = {
            "license": license_name(photo.get("license")),
            "owner": photo.get("ownername") or owner_id,
            "page_url": f"{f.page_url}/{owner_id}/{pid}",
            "tag": item.tag,
            "flickr_size": size or None,
        }
        uri = url or meta["page_url"]

        def row(status: str, **extra: Any) -> dict[str, Any]:
            return make_row(image_id, "flickr", uri, status, **meta, **extra)

        if not is_allowed(photo.get("license"), f.licenses):
            return Outcome([row("license_not_allowed")])
        if not url:
            return Outcome([row("too_small" if size else "no_url")])
        stem = f"flickr/{pid[-2:]}/{pid}"
        stored = find_stored(self.raw, stem)
        if stored is not None:
            data = stored.read_bytes()
        else:
            try:
                resp = self.policy(lambda: raise_for_retry(self.client.get(url)))
            except (RetryableHTTPError, httpx.HTTPError) as exc:
                return Outcome([row(failure_status(exc))], final=False)
            if resp.status_code != 200:
                transient = resp.status_code not in PERMANENT_HTTP
                return Outcome([row(f"http_{resp.status_code}")], final=not transient)
            if f.honor_noai and robots_optout(resp.headers.get_list("X-Robots-Tag")):
                return Outcome([row("robots_optout")])
            data = resp.content
        check = check_image(data, self.shared.max_pixels)
        if check.status != "ok":
            return Outcome([row(check.status)])
        path, sha = store(self.raw, f"{stem}.{check.ext}", upright_bytes(data, check))
        return Outcome([row("ok", path=path, sha256=sha, width=check.width, height=check.height)])
