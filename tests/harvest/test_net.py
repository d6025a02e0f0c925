"""Robots opt-out parsing, Retry-After parsing and image checks on hand-made bytes."""

from __future__ import annotations

import email.utils
import io
import time

from PIL import Image

from facerep.harvest.net import RateLimiter, parse_retry_after, robots_optout
from facerep.harvest.validate import check_image


def test_robots_optout() -> None:
    assert robots_optout(["noai"])
    assert robots_optout(["noindex, NoImageAI"])
    assert robots_optout(["otherbot: noindex", "facerep: noai"])
    assert not robots_optout(["otherbot: noai"])
    assert not robots_optout(["noindex, nofollow"])
    assert not robots_optout([])


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < parse_retry_after(later) <= 31


def test_check_image_reasons() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, format="JPEG")
    good = buf.getvalue()
    assert check_image(good, 10_000).status == "ok"
    assert (check_image(good, 10_000).width, check_image(good, 10_000).height) == (64, 48)
    assert check_image(good, 1000).status == "decompression_bomb"
    assert check_image(good[:200], 10_000).status == "truncated"
    assert check_image(b"", 10_000).status == "zero_bytes"
    assert check_image(b"GIF89a nonsense", 10_000).status == "not_an_image"
    bmp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(bmp, format="BMP")
    assert check_image(bmp.getvalue(), 10_000).status == "unsupported_format"


def test_rate_limiter_spaces_calls() -> None:
    """36,000 calls an hour is one call per 0.1 s: five calls cannot finish before 0.4 s."""
    limiter = RateLimiter(36_000)
    start = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - start >= 0.4 - 1e-3
    assert limiter.calls == 5
