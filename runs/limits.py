"""The bounds of the ingestion path, in one place. Each comes from a setting (and its
environment variable, see docs/configuration.md), read on use so tests can override it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

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


# --- Values PostgreSQL (or a sane run) cannot hold -------------------------------------------
# Checked by every ingestion path before anything is written: a value PostgreSQL refuses
# would fail the whole statement, and with it every other item of the batch.

# The oldest run time accepted, and how far ahead of CHM's clock a run time may be. PostgreSQL
# stores far wider ranges; the bounds catch a sender's broken clock or a wrong unit (seconds
# read as milliseconds) before it lands: a run "finished" in 2099 would keep its pipeline from
# ever going stale and sort ahead of every real run.
EARLIEST_RUN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)

# C0 and C1 control characters (NUL included): never part of a name or an id, and a hazard in
# logs, CSV downloads and terminals.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def run_time_error(moment: dt.datetime, *, now: dt.datetime | None = None) -> str | None:
    """Why the aware ``moment`` cannot be a run's time, or None."""
    if moment < EARLIEST_RUN_TIME:
        return "Before 1970-01-01T00:00:00Z: not the time of a run."
    # The message names no instant: an answer must not depend on the second it was given.
    if moment > (now or timezone.now()) + FUTURE_TOLERANCE:
        return "More than a day ahead of CHM's clock: check the sender's clock and time zone."
    return None


def text_error(value: str) -> str | None:
    """Why PostgreSQL cannot store ``value`` as text, or None.

    Two things pass JSON parsing but not PostgreSQL: NUL, and a lone UTF-16 surrogate
    (``"\\ud800"`` without its pair), which JSON escapes can carry but UTF-8 cannot encode.
    """
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode: it holds a lone surrogate (U+D800 to U+DFFF)."
    return None


def identifier_error(value: str) -> str | None:
    """``text_error``, and no control characters: for names and ids."""
    if _CONTROL_CHARACTERS.search(value):
        return "Must not contain control characters (U+0000 to U+001F, U+007F to U+009F)."
    return text_error(value)


def printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode written as escapes: safe to echo back in an error
    message or a log line (a lone surrogate would fail the JSON answer itself)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unstorable_text(value: Any) -> tuple[str, str] | None:
    """A string or object key within a JSON ``value`` that PostgreSQL cannot store, as (its
    dotted path, why), or None. Iterative: a document nested as deep as the JSON
    parser allows must not exhaust Python's stack here."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            error = text_error(item)
            if error:
                return path, error
            continue
        if isinstance(item, Mapping):
            entries = list(item.items())
        elif isinstance(item, list):
            entries = list(enumerate(item))
        else:
            continue
        # Reversed onto the stack, so that the first entry is looked at first.
        for key, inner in reversed(entries):
            inner_path = f"{path}.{printable(str(key))}" if path else printable(str(key))
            key_error = text_error(key) if isinstance(key, str) else None
            if key_error:
                return inner_path, f"The key: {key_error}"
            pending.append((inner_path, inner))
    return None
