"""HTTP plumbing for the harvesters: retries that honour Retry-After, a call-rate limit, robots opt-out.

Retries (tenacity) cover 429, 5xx, timeouts and dropped connections; the wait is the server's
`Retry-After` when it sends one (capped by `harvest.max_retry_after_s`), else exponential backoff from
`harvest.backoff_s`. `X-Robots-Tag: noai` / `noimageai` is honoured the way img2dataset does.
"""

from __future__ import annotations

import email.utils
import threading
import time
from typing import TYPE_CHECKING

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

if TYPE_CHECKING:  # the sources import this module while facerep.harvest.config collects them
    from facerep.harvest.config import SharedParams

USER_AGENT = "facerep-harvest/0.1 (+https://github.com/facerep)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DISALLOWED_DIRECTIVES = frozenset({"noai", "noimageai"})


class RetryableHTTPError(Exception):
    """A response worth retrying (429 or 5xx), with the server's Retry-After in seconds if any."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def raise_for_retry(resp: httpx.Response) -> httpx.Response:
    """Turn a retryable status into `RetryableHTTPError`; pass every other response through."""
    if resp.status_code in RETRY_STATUSES:
        raise RetryableHTTPError(resp.status_code, parse_retry_after(resp.headers.get("Retry-After")))
    return resp


def retrying(cfg: SharedParams) -> Retrying:
    """The retry policy shared by API calls and downloads; the last failure is re-raised as itself."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableHTTPError) and exc.retry_after is not None:
            return min(exc.retry_after, cfg.max_retry_after_s)
        return cfg.backoff_s * 2 ** (state.attempt_number - 1)

    return Retrying(
        stop=stop_after_attempt(cfg.retries),
        wait=wait,
        retry=retry_if_exception_type((RetryableHTTPError, httpx.TimeoutException, httpx.TransportError)),
        reraise=True,
    )


def failure_status(exc: Exception) -> str:
    """The manifest status of a request that failed after every retry."""
    if isinstance(exc, RetryableHTTPError):
        return f"http_{exc.status}"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "connection_error"


def robots_optout(values: list[str], disallowed: frozenset[str] = DISALLOWED_DIRECTIVES) -> bool:
    """True when an `X-Robots-Tag` value forbids AI use for any agent or for this one.

    Directives may be scoped to a user agent (`otherbot: noai`); those scoped to another agent are
    ignored, as img2dataset does.
    """
    for value in values:
        for part in value.split(","):
            directive = part.strip().lower()
            if ":" in directive:
                agent, _, rest = directive.partition(":")
                if agent.strip() not in {"*", "facerep"}:
                    continue
                directive = rest.strip()
            if directive in disallowed:
                return True
    return False


class RateLimiter:
    """At most `per_hour` calls per hour, spaced evenly (Flickr's limit is 3,600 calls an hour per key)."""

    def __init__(self, per_hour: int) -> None:
        self.interval = 3600.0 / per_hour
        self._next = 0.0
        self._lock = threading.Lock()
        self.calls = 0

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            self.calls += 1
        if start > now:
            time.sleep(start - now)


def make_client(cfg: SharedParams, connections: int) -> httpx.Client:
    """One pooled client for a whole harvest (connection reuse is most of the speed)."""
    return httpx.Client(
        timeout=cfg.timeout_s,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
