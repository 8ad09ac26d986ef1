"""Run ingestion: the one place where reported runs are written.

The REST API, the OpenLineage adapter, the synthetic-data loader and the tests all call
``ingest_runs``. It validates every item on its own, then writes the valid ones with one
``INSERT … ON CONFLICT (pipeline_id, external_run_id) DO UPDATE … WHERE`` statement, so the
database's unique constraint is the idempotency key and the "only move forward" rule is applied
by PostgreSQL under the row lock that ON CONFLICT takes. Two senders delivering events of one run
at the same time are therefore serialised on that row, and the stored run does not depend on the
order of arrival.

The state machine (DESIGN.md, "Run status and the idempotency contract"), for an event E that
meets a stored run R:

- E *wins* when its status ranks higher (queued < running < terminal), or when both are terminal
  and E finished later (a correction). The winner sets status, ``finished_at`` and
  ``error_message``; its metadata keys override R's.
- Two terminal events with the same ``finished_at`` and different statuses conflict: rejected.
- Any event lowers ``started_at`` to the earliest seen and adds metadata keys R lacks; a repeat of
  R's own status and finish time fills an error message R lacks.
- Otherwise nothing is written (``unchanged``): a duplicate, a late ``running`` after a terminal
  status, an older terminal event.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connection, transaction
from django_prometheus.db.common import ExportingCursorWrapper

from inventory.models import Client
from runs import limits
from runs.models import Run
from runs.signals import terminal_runs_ingested
from runs.statuses import SOURCE_STATUS_KEY, STATUS_RANK, TERMINAL_RANK, canonical_status

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
REJECTED = "rejected"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, REJECTED)

ITEM_FIELDS = frozenset(
    {
        "pipeline",
        "external_run_id",
        "status",
        "started_at",
        "finished_at",
        "error_message",
        "metadata",
    }
)
EXTERNAL_RUN_ID_MAX_LENGTH = 255
PIPELINE_SLUG_MAX_LENGTH = 200


@dataclass(frozen=True)
class StoredRun:
    """The run as stored once the item was applied: returned by the upsert itself, or read
    back right after it when the item changed nothing."""

    id: int
    pipeline_id: int
    pipeline_slug: str
    external_run_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error_message: str
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def duration(self) -> dt.timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True)
class ItemResult:
    index: int
    outcome: str
    run_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    # The stored run, for a call with a single item (the API answers with it); None otherwise.
    run: StoredRun | None = None
    # True when the item was rejected because it contradicts the stored terminal status with
    # the same finished_at (the REST API answers 409 for a single item).
    conflict: bool = False
    # True when the item names a pipeline the client does not have (its own or not at all:
    # the two are indistinguishable on purpose, so nothing leaks about other clients).
    unknown_pipeline: bool = False


@dataclass(frozen=True)
class IngestResult:
    results: list[ItemResult]
    summary: dict[str, int]


@dataclass(frozen=True)
class _ValidRun:
    index: int
    pipeline_slug: str
    external_run_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error_message: str
    metadata: dict[str, Any]


def ingest_runs(*, client: Client, items: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Validate and store reported runs of ``client``'s pipelines; one result per item.

    Items use the REST format (docs/api.md); timestamps are ISO-8601 strings or aware datetimes.
    Valid items are stored even when others are rejected. After the transaction commits,
    ``terminal_runs_ingested`` is sent once with the pipelines that gained or corrected a
    terminal run.
    """
    results: dict[int, ItemResult] = {}
    valid: list[_ValidRun] = []
    for index, item in enumerate(items):
        parsed = _validate_item(index, item)
        if isinstance(parsed, _ValidRun):
            valid.append(parsed)
        else:
            results[index] = ItemResult(index=index, outcome=REJECTED, errors=parsed)

    if valid:
        terminal_pipelines: set[int] = set()
        rounds = _rounds(valid)
        # One statement is atomic on its own; the transaction (two more round trips on the
        # single-run path) is only needed when a batch holds several events of one run.
        with transaction.atomic() if len(rounds) > 1 else nullcontext():
            for batch in rounds:
                _store_round(client.pk, batch, results, terminal_pipelines, full=len(items) == 1)
            if terminal_pipelines:
                transaction.on_commit(
                    lambda: terminal_runs_ingested.send(sender=Run, pipeline_ids=terminal_pipelines)
                )

    ordered = [results[index] for index in range(len(items))]
    summary = dict.fromkeys(OUTCOMES, 0)
    for result in ordered:
        summary[result.outcome] += 1
    return IngestResult(results=ordered, summary=summary)


# --- Validation -----------------------------------------------------------------------------
# Hand-written rather than a DRF Serializer: a batch of 1,000 items is validated on every
# request, and field-by-field DRF validation costs several times the database write.


def _validate_item(index: int, item: Any) -> _ValidRun | dict[str, list[str]]:
    if not isinstance(item, Mapping):
        return {"non_field_errors": ["Each run must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - ITEM_FIELDS):
        errors[limits.printable(str(name))] = ["Unknown field."]

    slug = _required_text(item, "pipeline", PIPELINE_SLUG_MAX_LENGTH, errors)
    external_run_id = _external_run_id(item, errors)
    raw_status = _required_text(item, "status", 64, errors)
    status = None
    if raw_status is not None:
        status = canonical_status(raw_status)
        if status is None:
            errors["status"] = [
                f"Unknown status {raw_status!r}. Use queued, running, success, failed, "
                "canceled or skipped (scheduler spellings are listed in docs/api.md)."
            ]
    started_at = _timestamp(item, "started_at", errors, required=True)
    finished_at = _timestamp(item, "finished_at", errors, required=False)
    error_message = _error_message(item, errors)
    metadata = _metadata(item, raw_status, errors)

    if status is not None and "finished_at" not in errors:
        terminal = STATUS_RANK[status] == TERMINAL_RANK
        if terminal and finished_at is None:
            errors["finished_at"] = [f"Required for a {status} run."]
        elif not terminal and finished_at is not None:
            errors["finished_at"] = [f"Must be empty while a run is {status}."]
    if started_at and finished_at and finished_at < started_at:
        errors.setdefault("finished_at", []).append("Must not be before started_at.")

    if errors:
        return errors
    return _ValidRun(
        index=index,
        pipeline_slug=slug,
        external_run_id=external_run_id,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        error_message=error_message,
        metadata=metadata,
    )


def _required_text(
    item: Mapping[str, Any], name: str, max_length: int, errors: dict[str, list[str]]
) -> str | None:
    value = item.get(name)
    if value is None:
        errors[name] = ["This field is required."]
        return None
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return None
    value = value.strip()
    if not value:
        errors[name] = ["Must not be empty."]
    elif len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
    elif error := limits.identifier_error(value):
        errors[name] = [error]
    else:
        return value
    return None


def _external_run_id(item: Mapping[str, Any], errors: dict[str, list[str]]) -> str | None:
    value = item.get("external_run_id")
    # Some schedulers number their runs; an integer id is taken as its decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        if len(str(value)) > EXTERNAL_RUN_ID_MAX_LENGTH:
            errors["external_run_id"] = [
                f"At most {EXTERNAL_RUN_ID_MAX_LENGTH} characters (digits, for a number)."
            ]
            return None
        return str(value)
    return _required_text(item, "external_run_id", EXTERNAL_RUN_ID_MAX_LENGTH, errors)


def _timestamp(
    item: Mapping[str, Any], name: str, errors: dict[str, list[str]], *, required: bool
) -> dt.datetime | None:
    value = item.get(name)
    if value is None:
        if required:
            errors[name] = ["This field is required."]
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            errors[name] = ["Not an ISO-8601 timestamp (example: 2026-03-01T02:00:00Z)."]
            return None
    else:
        errors[name] = ["Must be an ISO-8601 timestamp string."]
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        errors[name] = ["Needs a time zone: end it with Z or an offset such as +02:00."]
        return None
    try:
        # In UTC from here on: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        errors[name] = ["Out of the supported range (years 1 to 9999)."]
        return None
    if error := limits.run_time_error(parsed):
        errors[name] = [error]
        return None
    return parsed


def _error_message(item: Mapping[str, Any], errors: dict[str, list[str]]) -> str:
    value = item.get("error_message")
    if value is None:
        return ""
    if not isinstance(value, str):
        errors["error_message"] = ["Must be a string."]
        return ""
    # PostgreSQL text cannot hold NUL; dropping it loses nothing a reader could see.
    value = value.replace("\x00", "")
    if error := limits.text_error(value):
        errors["error_message"] = [error]
        return ""
    return limits.truncate_error_message(value)


def _metadata(
    item: Mapping[str, Any], raw_status: str | None, errors: dict[str, list[str]]
) -> dict[str, Any]:
    value = item.get("metadata")
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        errors["metadata"] = ["Must be a JSON object."]
        return {}
    metadata = dict(value)
    if raw_status is not None:
        metadata[SOURCE_STATUS_KEY] = raw_status
    try:
        # allow_nan=False: PostgreSQL's jsonb refuses NaN and Infinity. ensure_ascii=False, so
        # that encoding it below finds lone surrogates, which jsonb refuses too.
        encoded = json.dumps(metadata, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        size = len(encoded.encode())
    except (TypeError, ValueError, RecursionError):
        errors["metadata"] = [
            "Must contain only JSON values (no NaN or Infinity) and valid Unicode text."
        ]
        return {}
    if "\\u0000" in encoded:
        errors["metadata"] = ["Must not contain NUL characters."]
        return {}
    limit = limits.max_metadata_bytes()
    if size > limit:
        errors["metadata"] = [f"Too large: at most {limit} bytes of JSON."]
        return {}
    return metadata


# --- Storage --------------------------------------------------------------------------------


def _rounds(valid: list[_ValidRun]) -> list[list[_ValidRun]]:
    """Split items so that no statement touches the same run twice.

    PostgreSQL refuses an ON CONFLICT DO UPDATE that affects one row twice, so the n-th event of
    a run within a batch goes into the n-th statement, in the order the sender listed them.
    Only the first round takes new row locks (later rounds revisit runs it locked), and the
    statement takes them in key order (ORDER BY in the SQL), so concurrent batches that share
    runs wait for each other instead of deadlocking.
    """
    rounds: list[list[_ValidRun]] = []
    seen: dict[tuple[str, str], int] = {}
    for run in valid:
        key = (run.pipeline_slug, run.external_run_id)
        position = seen.get(key, 0)
        seen[key] = position + 1
        if position == len(rounds):
            rounds.append([])
        rounds[position].append(run)
    return rounds


# The conditional update, in SQL so that it runs under the row lock ON CONFLICT takes. EXCLUDED
# is the incoming event, r the stored run. It leans on an invariant: finished_at is set exactly
# when the status is terminal (the validator requires it, a check constraint refuses it on
# queued or running rows). Hence, repeated where needed because SQL has no local variables:
#   wins     = COALESCE(EXCLUDED.finished_at > r.finished_at,            -- later terminal
#                       r.finished_at IS NULL AND (EXCLUDED.finished_at IS NOT NULL  -- first terminal
#                       OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
#   same     = EXCLUDED.status = r.status AND EXCLUDED.finished_at IS NOT DISTINCT FROM r.finished_at
#   conflict = EXCLUDED.finished_at = r.finished_at AND EXCLUDED.status <> r.status
# One statement per round: resolve the pipelines by slug within the client (an unknown slug
# simply yields no row), upsert in key order, and return the runs it wrote. The slug comes back
# through a primary-key lookup per returned row: joining the returned rows to the input instead
# makes PostgreSQL guess and nest-loop over a thousand rows each side.
_UPSERT_HEAD = """
WITH i AS (
    SELECT p.id AS pipeline_id, j.external_run_id, j.status, j.started_at, j.finished_at,
           j.error_message, j.metadata
    FROM json_to_recordset(%s::json) AS j(
        pipeline text, external_run_id text, status text, started_at timestamptz,
        finished_at timestamptz, error_message text, metadata jsonb
    )
    JOIN inventory_pipeline AS p ON p.client_id = %s AND p.slug = j.pipeline
)
INSERT INTO runs_run AS r (
    pipeline_id, external_run_id, status, started_at, finished_at, error_message, metadata,
    created_at, updated_at
)
SELECT pipeline_id, external_run_id, status, started_at, finished_at, error_message, metadata,
       now(), now()
FROM i
ORDER BY pipeline_id, external_run_id
ON CONFLICT (pipeline_id, external_run_id) DO UPDATE SET
    status = CASE
        WHEN COALESCE(EXCLUDED.finished_at > r.finished_at, r.finished_at IS NULL
            AND (EXCLUDED.finished_at IS NOT NULL
                 OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
        THEN EXCLUDED.status ELSE r.status
    END,
    finished_at = CASE
        WHEN COALESCE(EXCLUDED.finished_at > r.finished_at, r.finished_at IS NULL
            AND (EXCLUDED.finished_at IS NOT NULL
                 OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
        THEN EXCLUDED.finished_at ELSE r.finished_at
    END,
    error_message = CASE
        WHEN COALESCE(EXCLUDED.finished_at > r.finished_at, r.finished_at IS NULL
            AND (EXCLUDED.finished_at IS NOT NULL
                 OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
        THEN EXCLUDED.error_message
        WHEN EXCLUDED.status = r.status
            AND EXCLUDED.finished_at IS NOT DISTINCT FROM r.finished_at
            AND r.error_message = ''
        THEN EXCLUDED.error_message
        ELSE r.error_message
    END,
    metadata = CASE
        WHEN COALESCE(EXCLUDED.finished_at > r.finished_at, r.finished_at IS NULL
            AND (EXCLUDED.finished_at IS NOT NULL
                 OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
        THEN r.metadata || EXCLUDED.metadata
        ELSE EXCLUDED.metadata || r.metadata
    END,
    started_at = LEAST(r.started_at, EXCLUDED.started_at),
    updated_at = now()
WHERE NOT COALESCE(EXCLUDED.finished_at = r.finished_at AND EXCLUDED.status <> r.status, false)
    AND (
        COALESCE(EXCLUDED.finished_at > r.finished_at, r.finished_at IS NULL
            AND (EXCLUDED.finished_at IS NOT NULL
                 OR (r.status = 'queued' AND EXCLUDED.status = 'running')))
        OR EXCLUDED.started_at < r.started_at
        OR (EXCLUDED.status = r.status
            AND EXCLUDED.finished_at IS NOT DISTINCT FROM r.finished_at
            AND r.error_message = '' AND EXCLUDED.error_message <> '')
        OR (EXCLUDED.metadata || r.metadata) <> r.metadata
    )
RETURNING (r.xmax = 0), (SELECT p.slug FROM inventory_pipeline AS p WHERE p.id = r.pipeline_id),
"""
# What the caller learns of each stored run: enough to report the outcome and the terminal
# pipelines for a batch; the whole run for a single item, which the API answers with.
_BRIEF_COLUMNS = "r.id, r.pipeline_id, r.external_run_id, r.status, r.finished_at"
_FULL_COLUMNS = (
    _BRIEF_COLUMNS + ", r.started_at, r.error_message, r.metadata, r.created_at, r.updated_at"
)
_UPSERT_BRIEF = _UPSERT_HEAD + _BRIEF_COLUMNS
_UPSERT_FULL = _UPSERT_HEAD + _FULL_COLUMNS

# The items the statement returned nothing for: a run it left alone (its columns), or a slug
# that names no pipeline of the client (no row at all).
_STORED_FROM = """
FROM json_to_recordset(%s::json) AS i(pipeline text, external_run_id text)
JOIN inventory_pipeline AS p ON p.client_id = %s AND p.slug = i.pipeline
JOIN runs_run AS r ON r.pipeline_id = p.id AND r.external_run_id = i.external_run_id
"""
_STORED_BRIEF = "SELECT p.slug, " + _BRIEF_COLUMNS + _STORED_FROM
_STORED_FULL = "SELECT p.slug, " + _FULL_COLUMNS + _STORED_FROM


def _stored(run: _ValidRun, row: Sequence[Any]) -> StoredRun:
    """A StoredRun from the _FULL_COLUMNS of a row."""
    run_id, pipeline_id, external_run_id, status, finished_at, *rest = row
    started_at, error_message, metadata, created_at, updated_at = rest
    # Django's psycopg setup hands jsonb over as text, for JSONField to decode.
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return StoredRun(
        id=run_id,
        pipeline_id=pipeline_id,
        pipeline_slug=run.pipeline_slug,
        external_run_id=external_run_id,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        error_message=error_message,
        metadata=metadata,
        created_at=created_at,
        updated_at=updated_at,
    )


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, every statement prepared: PostgreSQL parses and plans the upsert
    once per connection. Planning it is most of its cost for a single run (it is long, and
    Django's client-side binding sends it with the values inlined, to be planned anew each
    time). With DB_PREPARED_STATEMENTS off, psycopg executes it unprepared."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


@functools.cache
def _counted_cursor_class(alias: str, vendor: str) -> type[psycopg.Cursor]:
    # django-prometheus builds a new class on every call: once per connection alias is enough.
    return ExportingCursorWrapper(_PreparingCursor, alias, vendor)


def _prepared_cursor():
    """A Django cursor (errors translated, queries logged and counted as for any other) over
    a _PreparingCursor of the request's connection: in its transaction, if there is one."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    factory = _counted_cursor_class(connection.alias, connection.vendor)
    with connection.wrap_database_errors:
        cursor = factory(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _records_json(batch: list[_ValidRun]) -> str:
    """The round as one JSON document for json_to_recordset: a single parameter, which costs
    far less to send than seven arrays of Python values adapted one element at a time."""
    return json.dumps(
        [
            {
                "pipeline": run.pipeline_slug,
                "external_run_id": run.external_run_id,
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "error_message": run.error_message,
                "metadata": run.metadata,
            }
            for run in batch
        ],
        separators=(",", ":"),
    )


def _store_round(
    client_id: int,
    batch: list[_ValidRun],
    results: dict[int, ItemResult],
    terminal_pipelines: set[int],
    *,
    full: bool,
) -> None:
    by_key = {(run.pipeline_slug, run.external_run_id): run for run in batch}
    with _prepared_cursor() as cursor:
        cursor.execute(_UPSERT_FULL if full else _UPSERT_BRIEF, [_records_json(batch), client_id])
        for inserted, pipeline_slug, *row in cursor.fetchall():
            run_id, pipeline_id, external_run_id, status, finished_at = row[:5]
            run = by_key.pop((pipeline_slug, external_run_id))
            results[run.index] = ItemResult(
                index=run.index,
                outcome=CREATED if inserted else UPDATED,
                run_id=run_id,
                run=_stored(run, row) if full else None,
            )
            # The event was applied as the run's terminal state (new, or a correction).
            if (
                STATUS_RANK[status] == TERMINAL_RANK
                and status == run.status
                and finished_at == run.finished_at
            ):
                terminal_pipelines.add(pipeline_id)
        if not by_key:
            return

        # Runs the statement left alone, read back to tell a repeat from a conflicting terminal
        # status. Within a transaction ON CONFLICT still holds their locks, so this read sees
        # what the conditional update saw. In autocommit (one statement, no transaction) a
        # change committed in between only means the event is classified as if it had arrived
        # after that change: it wrote nothing either way.
        keys = [{"pipeline": key[0], "external_run_id": key[1]} for key in by_key]
        cursor.execute(_STORED_FULL if full else _STORED_BRIEF, [json.dumps(keys), client_id])
        for pipeline_slug, *row in cursor.fetchall():
            run_id, _, external_run_id, status, finished_at = row[:5]
            run = by_key.pop((pipeline_slug, external_run_id))
            if (
                STATUS_RANK[status] == TERMINAL_RANK
                and STATUS_RANK[run.status] == TERMINAL_RANK
                and finished_at == run.finished_at
                and status != run.status
            ):
                results[run.index] = ItemResult(
                    index=run.index,
                    outcome=REJECTED,
                    errors={
                        "status": [
                            f"Conflicts with the stored status {status!r} of this run, "
                            "reported with the same finished_at. A correction needs a later "
                            "finished_at."
                        ]
                    },
                    conflict=True,
                )
            else:
                results[run.index] = ItemResult(
                    index=run.index,
                    outcome=UNCHANGED,
                    run_id=run_id,
                    run=_stored(run, row) if full else None,
                )

    # Nothing at all came back for these: their slug names no pipeline of this client (its own
    # or another client's, told apart nowhere so that nothing leaks).
    for run in by_key.values():
        results[run.index] = ItemResult(
            index=run.index,
            outcome=REJECTED,
            errors={"pipeline": [f"No pipeline {run.pipeline_slug!r} for this client."]},
            unknown_pipeline=True,
        )
