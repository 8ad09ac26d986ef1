"""The bounds of the ingestion path, in one place. Each comes from a setting (and its
environment variable, see docs/configuration.md), read on use so tests can override it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone


def max_body_bytes() -> int:
    """Largest request body, after gzip decompression: more answers 413."""
    return settings.CHM_INGEST_MAX_BODY_BYTES


def max_batch_items() -> int:
    """Most runs in one batch request."""
    return settings.CHM_INGEST_MAX_BATCH_ITEMS


def max_metadata_bytes() -> int:
    """Largest ``metadata`` object of one run, as compact JSON: more is a 400 naming it."""
    return settings.CHM_RUN_METADATA_MAX_BYTES


def max_error_message_chars() -> int:
    """Longest error message kept; a longer one is cut and marked, never refused."""
    return settings.CHM_RUN_ERROR_MESSAGE_MAX_CHARS


def truncate_error_message(message: str) -> str:
    limit = max_error_message_chars()
    if len(message) <= limit:
        return message
    dropped = len(message) - limit
    return f"{message[:limit]}\n[… truncated by CHM: {dropped} more characters]"


# Timestamps of runs: not before the Unix epoch (nothing reports runs from earlier; older
# values are typos or zero values), and not later than this past the server's clock (a run
# "finished" next year would keep a pipeline from ever looking stale and sort first forever).
# A day covers any clock skew and time-zone mistake a sender can make without being wrong.
EARLIEST_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)
FUTURE_TOLERANCE_TEXT = "1 day"


def timestamp_bounds() -> tuple[dt.datetime, dt.datetime]:
    """The earliest and latest ``started_at`` and ``finished_at`` ingestion accepts."""
    return EARLIEST_TIMESTAMP, timezone.now() + FUTURE_TOLERANCE
