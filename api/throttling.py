"""Rate limits: ingestion per client key, API reads per key or staff user, and failed
authentication per IP address (wrong client keys, wrong API tokens, failed admin logins).

Fixed windows aligned on the clock: a count starts at zero at every multiple of its window,
and the request past the limit is answered 429 with ``Retry-After`` set to the seconds left in
the window. Counts live in one of two stores (RATE_LIMIT_CACHE_URL, docs/operations.md): a
table of PostgreSQL (production's default), or the "ratelimit" cache (Redis, or each process
on its own). Both count atomically: one ``INSERT … ON CONFLICT DO UPDATE`` statement, or the
cache's ``add`` and ``incr``.

A cache that fails lets requests through: the limits protect CHM, they must not become a
reason for CHM to refuse runs or logins.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from prometheus_client import Counter
from rest_framework.throttling import BaseThrottle

from api import authentication

logger = logging.getLogger(__name__)

INGEST_RATE_LIMITED = Counter(
    "chm_ingest_rate_limited_total",
    "Ingestion requests answered 429 because their key was over INGEST_RATE_LIMIT.",
)
AUTHENTICATION_FAILURES = Counter(
    "chm_authentication_failures_total",
    "Wrong client keys, wrong API tokens and failed admin logins (counted per IP address for "
    "AUTH_FAILURE_RATE_LIMIT).",
)


def _now() -> float:
    return time.time()


# One statement per counted request, in autocommit, on an UNLOGGED table (migration chm 0001):
# about 0.1 ms on loopback, where Django's database cache took about 9 ms (two transactions,
# each flushing the write-ahead log, and a COUNT(*) of the table to decide on culling).
_COUNT_IN_DATABASE = """
INSERT INTO chm_rate_limit_count AS c (key, hits, expires_at)
VALUES (%s, 1, statement_timestamp() + %s * interval '1 second')
ON CONFLICT (key) DO UPDATE SET hits = c.hits + 1
RETURNING hits
"""
_READ_FROM_DATABASE = "SELECT hits FROM chm_rate_limit_count WHERE key = %s"
# Windows that ended: deleted by whoever opens a new window, so the table holds only the
# counts of current windows without a job of its own.
_FORGET_ENDED_WINDOWS = "DELETE FROM chm_rate_limit_count WHERE expires_at < statement_timestamp()"


def _count_request(cache_key: str, window: int) -> int:
    if settings.RATE_LIMIT_STORE == "database":
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_IN_DATABASE, [cache_key, window + 1])
            (hits,) = cursor.fetchone()
            if hits == 1:
                cursor.execute(_FORGET_ENDED_WINDOWS)
        return hits
    cache = caches["ratelimit"]
    # add() is a no-op when the key exists; incr() is atomic in one cache. The key outlives
    # its window by a second so that it cannot expire between the two calls.
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        return cache.incr(cache_key)
    except ValueError:  # evicted between add() and incr()
        cache.add(cache_key, 1, timeout=window + 1)
        return 1


def _count(scope: str, key: str, window: int, *, increment: bool = True) -> tuple[int, float]:
    """The count of ``key`` in the current window of ``scope`` (after adding one, unless
    ``increment`` is off) and the seconds left in that window. Raises whatever the cache
    raises."""
    now = _now()
    window_start = int(now // window) * window
    cache_key = f"chm:{scope}:{key}:{window}:{window_start}"
    if increment:
        count = _count_request(cache_key, window)
    elif settings.RATE_LIMIT_STORE == "database":
        with connection.cursor() as cursor:
            cursor.execute(_READ_FROM_DATABASE, [cache_key])
            row = cursor.fetchone()
        count = row[0] if row else 0
    else:
        count = caches["ratelimit"].get(cache_key, 0)
    return count, window_start + window - now


def _over_limit(scope: str, key: str, limit: int, window: int, *, increment: bool) -> float | None:
    """Seconds until the window ends when ``key`` is past ``limit`` (counting this request,
    or without ``increment``, when one more would be past it), else None; None too when the
    limit is off or the cache fails."""
    if not limit:
        return None
    try:
        count, seconds_left = _count(scope, key, window, increment=increment)
    except Exception:
        logger.warning("Rate limit %s skipped: the ratelimit cache failed", scope, exc_info=True)
        return None
    past = count > limit if increment else count >= limit
    return seconds_left if past else None


class IngestRateThrottle(BaseThrottle):
    """Limits ingestion (POST with a client key); reads and staff requests are not counted."""

    def __init__(self) -> None:
        self.seconds_left: float | None = None

    def allow_request(self, request, view) -> bool:
        client = authentication.request_client(request)
        if request.method != "POST" or client is None:
            return True
        # Per key, not per client: a rotated key starts a fresh count.
        self.seconds_left = _over_limit(
            "ingest-rate",
            client.key_hash[:24],
            settings.INGEST_RATE_LIMIT,
            settings.INGEST_RATE_LIMIT_WINDOW,
            increment=True,
        )
        if self.seconds_left is None:
            return True
        INGEST_RATE_LIMITED.inc()
        return False

    def wait(self) -> float | None:
        return self.seconds_left


class ApiReadThrottle(BaseThrottle):
    """Limits API reads (GET and HEAD) per client key or staff user."""

    def __init__(self) -> None:
        self.seconds_left: float | None = None

    def allow_request(self, request, view) -> bool:
        if request.method not in ("GET", "HEAD"):
            return True
        client = authentication.request_client(request)
        if client is not None:
            who = f"key:{client.key_hash[:24]}"
        elif request.user and request.user.is_authenticated:
            who = f"user:{request.user.pk}"
        else:
            who = f"ip:{client_ip(request)}"
        self.seconds_left = _over_limit(
            "api-reads",
            who,
            settings.API_READ_RATE_LIMIT,
            settings.API_READ_RATE_LIMIT_WINDOW,
            increment=True,
        )
        return self.seconds_left is None

    def wait(self) -> float | None:
        return self.seconds_left


def client_ip(request) -> str:
    """The address failed authentications are counted against: REMOTE_ADDR, or the header a
    proxy sets (RATE_LIMIT_CLIENT_IP_HEADER). IPv6 addresses count per /64, the block one
    client usually holds."""
    header = settings.RATE_LIMIT_CLIENT_IP_HEADER
    raw = request.headers.get(header, "") if header else ""
    raw = raw.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def authentication_blocked(request) -> float | None:
    """Seconds until ``request``'s address may try to log in again, or None: it is blocked
    once it failed AUTH_FAILURE_RATE_LIMIT times within the window."""
    return _over_limit(
        "auth-failures",
        client_ip(request),
        settings.AUTH_FAILURE_RATE_LIMIT,
        settings.AUTH_FAILURE_RATE_LIMIT_WINDOW,
        increment=False,
    )


def count_failed_authentication(request) -> float | None:
    """Count a failed authentication of ``request``'s address; the seconds until the window
    ends when the address is now past the limit, else None."""
    AUTHENTICATION_FAILURES.inc()
    return _over_limit(
        "auth-failures",
        client_ip(request),
        settings.AUTH_FAILURE_RATE_LIMIT,
        settings.AUTH_FAILURE_RATE_LIMIT_WINDOW,
        increment=True,
    )
