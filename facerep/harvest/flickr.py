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

import datetime as dt
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from facerep.errors import FacerepError, InputError
from facerep.harvest.config import HarvestParams
from facerep.harvest.licenses import is_allowed, license_name
from facerep.harvest.manifest import Journal, make_row
from facerep.harvest.net import (
    RateLimiter,
    RetryableHTTPError,
    failure_status,
    make_client,
    raise_for_retry,
    retrying,
    robots_optout,
)
from facerep.harvest.runner import Outcome, run_items
from facerep.harvest.validate import check_image, find_stored, store, upright_bytes
from facerep.progress import track

API_KEY_ENV = "FLICKR_API_KEY"
PERMANENT_HTTP = frozenset({400, 401, 403, 404, 410, 451})
log = logging.getLogger(__name__)


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
        self, cfg: HarvestParams, api_key: str, client: httpx.Client, cache: Journal, limiter: RateLimiter
    ) -> None:
        self.cfg = cfg
        self._key = api_key
        self.client = client
        self.cache = cache
        self.limiter = limiter
        self.policy = retrying(cfg)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def search(self, tag: str, lo: int, hi: int, page: int) -> dict[str, Any]:
        """One page of photos of `tag` uploaded in [lo, hi] (unix seconds, both inclusive as Flickr's)."""
        f = self.cfg.flickr
        query = {
            "method": "flickr.photos.search",
            "tags": tag,
            "license": ",".join(str(i) for i in f.licenses),
            "min_upload_date": str(lo),
            "max_upload_date": str(hi),
            "sort": "date-posted-asc",
            "content_type": "1",
            "media": "photos",
            "extras": f"license,owner_name,date_upload,{f.size}",
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
                f"Flickr API {self.cfg.flickr.api_url} failed after {self.cfg.retries} attempts "
                f"({failure_status(exc)}) searching tag {tag!r}"
            ) from None
        self.cache.append(key, [photos])
        return photos

    def _post(self, query: dict[str, str]) -> dict[str, Any]:
        self.limiter.acquire()
        resp = raise_for_retry(
            self.client.post(self.cfg.flickr.api_url, data={**query, "api_key": self._key})
        )
        if resp.status_code != 200:
            raise FacerepError(f"Flickr API {self.cfg.flickr.api_url} answered HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise FacerepError(f"Flickr API {self.cfg.flickr.api_url} answered non-JSON") from None
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
    f = api.cfg.flickr
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


def list_photos(api: FlickrAPI) -> list[Listed]:
    """All photos over every tag, once each (the first tag in `harvest.flickr.tags` order wins)."""
    f = api.cfg.flickr
    lo, hi = day_start(f.min_upload_date), day_start(f.max_upload_date) - 1
    seen: dict[str, Listed] = {}
    for tag in track(f.tags, "flickr search (tags)"):
        for photo in list_window(api, tag, lo, hi):
            if f.max_photos is not None and len(seen) >= f.max_photos:
                return list(seen.values())
            seen.setdefault(str(photo["id"]), Listed(photo, tag))
    return list(seen.values())


def photo_worker(cfg: HarvestParams, raw: Path, client: httpx.Client) -> Callable[[Listed], Outcome]:
    """The per-photo job: licence check, download (or reuse a file an interrupted run stored), validate."""
    f = cfg.flickr
    policy = retrying(cfg)

    def fetch(url: str) -> httpx.Response:
        return raise_for_retry(client.get(url))

    def work(item: Listed) -> Outcome:
        photo = item.photo
        pid = str(photo["id"])
        image_id = f"flickr:{pid}"
        owner_id = str(photo.get("owner", ""))
        url = photo.get(f.size)
        meta = {
            "license": license_name(photo.get("license")),
            "owner": photo.get("ownername") or owner_id,
            "page_url": f"{f.page_url}/{owner_id}/{pid}",
            "tag": item.tag,
        }
        uri = url or meta["page_url"]

        def row(status: str, **extra: Any) -> dict[str, Any]:
            return make_row(image_id, "flickr", uri, status, **meta, **extra)

        if not is_allowed(photo.get("license"), f.licenses):
            return Outcome([row("license_not_allowed")])
        if not url:
            return Outcome([row("no_url")])
        stem = f"flickr/{pid[-2:]}/{pid}"
        stored = find_stored(raw, stem)
        if stored is not None:
            data = stored.read_bytes()
        else:
            try:
                resp = policy(lambda: fetch(url))
            except (RetryableHTTPError, httpx.HTTPError) as exc:
                return Outcome([row(failure_status(exc))], final=False)
            if resp.status_code != 200:
                transient = resp.status_code not in PERMANENT_HTTP
                return Outcome([row(f"http_{resp.status_code}")], final=not transient)
            if f.honor_noai and robots_optout(resp.headers.get_list("X-Robots-Tag")):
                return Outcome([row("robots_optout")])
            data = resp.content
        check = check_image(data, cfg.max_pixels)
        if check.status != "ok":
            return Outcome([row(check.status)])
        path, sha = store(raw, f"{stem}.{check.ext}", upright_bytes(data, check))
        return Outcome([row("ok", path=path, sha256=sha, width=check.width, height=check.height)])

    return work


@dataclass
class FlickrRun:
    rows: list[dict[str, Any]]
    api_calls: int
    listed: int


def harvest_flickr(cfg: HarvestParams, raw: Path, journal: Journal, api_cache: Journal) -> FlickrRun:
    """List every photo of every tag, then download the allowed ones concurrently."""
    key = api_key_from_env()
    limiter = RateLimiter(cfg.flickr.max_calls_per_hour)
    with make_client(cfg, cfg.flickr.concurrency) as client:
        api = FlickrAPI(cfg, key, client, api_cache, limiter)
        listed = list_photos(api)
        items = [(f"flickr:{it.photo['id']}", it) for it in listed]
        work = photo_worker(cfg, raw, client)
        rows = run_items(items, work, journal, "flickr images", cfg.flickr.concurrency)
    return FlickrRun(rows, limiter.calls, len(listed))
