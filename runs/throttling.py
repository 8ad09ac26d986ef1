"""The per-key ingestion rate limit: INGEST_RATE_LIMIT requests per INGEST_RATE_LIMIT_WINDOW.

Fixed windows aligned on the clock: the count of a key starts at zero at every multiple of the
window, and the request past the limit is answered 429 with ``Retry-After`` set to the seconds
left in the window. Counting uses the cache's atomic ``add`` and ``incr``, so it is exact
within one cache: with the default in-process cache each gunicorn worker keeps its own count
(a key may then send up to limit × workers per window); with a shared cache
(RATE_LIMIT_CACHE_URL) the limit holds across every worker and machine. docs/operations.md
says how to choose.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from chm_project.metrics import INGEST_RATE_LIMITED
from runs.authentication import request_client

logger = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


def _count_request(cache_key: str, window: int) -> int:
    cache = caches["ratelimit"]
    # add() is a no-op when the key exists; incr() is atomic in one cache. The key outlives
    # its window by a second so that it cannot expire between the two calls.
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        return cache.incr(cache_key)
    except ValueError:  # evicted between add() and incr()
        cache.add(cache_key, 1, timeout=window + 1)
        return 1


class IngestRateThrottle(BaseThrottle):
    """Limits ingestion (POST with a client key); reads and staff requests are not counted."""

    def __init__(self) -> None:
        self.seconds_left: float | None = None

    def allow_request(self, request, view) -> bool:
        limit = settings.INGEST_RATE_LIMIT
        client = request_client(request)
        if not limit or request.method != "POST" or client is None:
            return True
        window = settings.INGEST_RATE_LIMIT_WINDOW
        now = _now()
        window_start = int(now // window) * window
        # Per key, not per client: a rotated key starts a fresh count.
        cache_key = f"chm:ingest-rate:{client.key_hash[:24]}:{window}:{window_start}"
        try:
            count = _count_request(cache_key, window)
        except Exception:
            # A shared cache that is down must not stop ingestion: let the request through.
            logger.warning(
                "Ingestion rate limit skipped: the ratelimit cache failed", exc_info=True
            )
            return True
        if count <= limit:
            return True
        self.seconds_left = window_start + window - now
        INGEST_RATE_LIMITED.inc()
        return False

    def wait(self) -> float | None:
        return self.seconds_left
