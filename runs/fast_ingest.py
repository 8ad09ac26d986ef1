"""The ingestion fast path: what ``runs.ingest.ingest_runs`` does, in fewer round trips and
with less Python per run. Every shortcut CHM takes on ingestion is in this module.

The plain path (runs/ingest.py) is the definition: DRF's serializer validates each item,
``get_or_create`` and the bulk ORM calls write the runs, ``apply_event`` decides every outcome
and ``derive`` what the writes do to the pipeline state and the rollup. This module reuses
those decisions as they are (``apply_event``, ``advance``, ``derive``, the serializer's own
fields, the rollup's statements) and replaces only how items are read and how rows travel:

- each item's fields are validated by the serializer's field objects directly, without DRF's
  per-field machinery around them (``validate``);
- the transaction is two pipelined round trips (psycopg's pipeline mode) of prepared
  statements: one takes the state rows' and the runs' locks in the documented order, reads
  them and reserves ids for new runs; the other writes the runs, the states and the rollup's
  day locks and commits. The plain path sends 10 or more statements one by one, each built by
  the ORM.

Measured on this kind of machine (2 cores, PostgreSQL 15 on loopback, 2026-12-02): CPU of one
worker per single-run request through Django's WSGI handler, 4.75 ms on the plain path and
1.54 ms here (bench/ingest_request_cost.py, with CHM_INGEST_FAST_PATH=0 and 1); CPU of
``ingest_runs`` for a batch of 1,000 in-order runs, 168 ms and 48 ms. Over HTTP the plain path
ingests 2.4 times fewer single runs a second (bench/ingest.py compares both in the same run;
docs/performance.md has the figures). These figures are the reason this module exists.

It answers exactly as the plain path does (tests/contract/test_ingest_fast_path.py sends the
same calls both ways and compares results, stored runs and states). It hands a call back to
the plain path (``None``) whenever the plain path has work this one does not do: inside a
caller's transaction, when an item names a pipeline without a state row yet (its first run) or
no pipeline of the client at all, or when a run appeared between the read and the insert.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import errors as pg_errors
from rest_framework.exceptions import ValidationError
from rest_framework.fields import Field

from inventory.models import Client
from runs import limits, rollups
from runs.ingest import (
    RUN_FIELDS,
    Derived,
    IngestResult,
    Item,
    ItemResult,
    RunPlan,
    derive,
    item_serializer,
    plan_runs,
    signature_of,
    summarize,
)
from runs.models import Run
from runs.pipeline_state import FIELDS as STATE_FIELDS
from runs.pipeline_state import WINDOW_FIELDS, StateValues, recompute
from runs.signals import terminal_runs_ingested
from runs.transitions import REJECTED, RunFields

_MISSING = object()

# --- Validation ---------------------------------------------------------------------------------


def validate(item: Any) -> tuple[dict[str, Any] | None, dict[str, list[str]] | None]:
    """``RunItemSerializer().run_validation(item)``, with the same errors in the same order,
    through the serializer's own field objects: (validated attrs, None) or (None, errors)."""
    serializer = item_serializer()
    if item is None:
        return None, {"non_field_errors": [serializer.error_messages["null"]]}
    if not isinstance(item, Mapping):
        return None, {"non_field_errors": [serializer.error_messages["invalid"]]}
    fields = _fields()
    errors: dict[str, list[str]] = {
        limits.printable(str(name)): ["Unknown field."] for name in item if name not in fields
    }
    attrs: dict[str, Any] = {}
    for name, field in fields.items():
        value = item.get(name, _MISSING)
        if value is _MISSING:
            if field.required:
                errors[name] = [str(field.error_messages["required"])]
        elif value is None:
            if field.allow_null:
                attrs[name] = None
            else:
                errors[name] = [str(field.error_messages["null"])]
        else:
            try:
                attrs[name] = field.to_internal_value(value)
            except ValidationError as exc:
                errors[name] = [str(message) for message in exc.detail]
    if errors:
        return None, errors
    try:
        return serializer.validate(attrs), None
    except ValidationError as exc:
        return None, {
            str(name): [str(message) for message in messages]
            for name, messages in exc.detail.items()
        }


@functools.cache
def _fields() -> dict[str, Field]:
    """The serializer's fields as a plain dict: its own mapping goes through the abstract
    Mapping methods on every lookup (a fifth of validation's time, measured with cProfile)."""
    return dict(item_serializer().fields)


# --- The statements -----------------------------------------------------------------------------

# The prepared statements below are planned for the tables as they are at each execution, not
# once per connection. PostgreSQL switches a prepared statement to a generic plan after five
# executions and keeps it until the tables' statistics change; one made while runs_run was
# nearly empty (a new installation, the first minute after a restore) matches a run's key on
# its second index column alone, so every key read scans the whole index. Measured on this
# kind of machine (2026-12-03): LOCK_RUNS for 1,000 keys took 663 ms at 50,000 runs and
# 2,914 ms at 200,000 with a generic plan cached at an empty table, against 3.2 ms planned
# afresh; where autovacuum is off nothing ever replaces that plan but a new connection.
# Planning afresh costs a single-run request 0.67 ms of wall time (3.29 against 3.96 ms through
# Django's WSGI handler, 4 rounds of 400, on a table where the cached plans were good ones),
# nearly all of it PostgreSQL planning the five statements: about a sixth of the single-run
# rate, paid for plans that never go stale. For a batch of 1,000 it is lost in the noise.
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"

_STATE_COLUMNS = ", ".join(f"s.{name}" for name in STATE_FIELDS)

# Round trip 1: the locks, in the order of runs/ingest.py (the statements run one after the
# other): the state rows by pipeline id, the runs by (pipeline_id, external_run_id), then the
# rollup's day locks of the days the events name, with ids reserved for the runs that turn out
# to be new, so that the second round trip can name them (one per run of the call: those that
# exist leave a gap in the sequence, which ids may have).
LOCK_STATES = f"""
SELECT p.slug, s.pipeline_id, {_STATE_COLUMNS}
FROM runs_pipelinestate s
JOIN inventory_pipeline p ON p.id = s.pipeline_id
WHERE p.client_id = %s AND p.slug = ANY(%s::text[])
ORDER BY s.pipeline_id
FOR UPDATE OF s
"""  # noqa: S608 -- constants of this module
LOCK_RUNS = """
SELECT r.id, p.slug, r.external_run_id, r.status, r.started_at, r.finished_at,
       r.error_message, r.metadata, r.created_at, r.updated_at, r.failure_signature
FROM unnest(%s::text[], %s::text[]) AS k(slug, external_run_id)
JOIN inventory_pipeline p ON p.client_id = %s AND p.slug = k.slug
JOIN runs_run r ON r.pipeline_id = p.id AND r.external_run_id = k.external_run_id
ORDER BY r.pipeline_id, r.external_run_id
FOR UPDATE OF r
"""
LOCK_DAYS_AND_RESERVE_IDS = """
SELECT
    (SELECT count(pg_advisory_xact_lock_shared(%s, d.key))
     FROM (SELECT DISTINCT k AS key FROM unnest(%s::integer[]) AS k ORDER BY 1) AS d),
    ARRAY(SELECT nextval(pg_get_serial_sequence('runs_run', 'id')) FROM generate_series(1, %s))
"""

# Round trip 2: one statement writes the new runs, the changed ones and the states, each set as
# one JSON document (a single parameter costs far less to send than a column of Python values
# adapted one by one). A run that exists after all makes the INSERT fail (no ON CONFLICT),
# which hands the call to the plain path. Then the rollup's markers of the days, in a statement
# of its own (runs/rollups.py: it must see a refresh that committed while its lock was awaited).
_WINDOW_CLEARED = ", ".join(f"{name} = NULL" for name in WINDOW_FIELDS)
_STATE_ASSIGNMENTS = ", ".join(f"{name} = j.{name}" for name in STATE_FIELDS)
WRITE = f"""
WITH new_runs AS (
    INSERT INTO runs_run (id, pipeline_id, external_run_id, status, started_at, finished_at,
                          error_message, failure_signature, metadata, created_at, updated_at)
    SELECT id, pipeline_id, external_run_id, status, started_at, finished_at, error_message,
           failure_signature, metadata, %(now)s, %(now)s
    FROM json_to_recordset(%(new)s::json) AS j(
        id bigint, pipeline_id bigint, external_run_id text, status text,
        started_at timestamptz, finished_at timestamptz, error_message text,
        failure_signature text, metadata jsonb
    )
    ORDER BY pipeline_id, external_run_id
), changed_runs AS (
    UPDATE runs_run AS r
    SET status = j.status, started_at = j.started_at, finished_at = j.finished_at,
        error_message = j.error_message, failure_signature = j.failure_signature,
        metadata = j.metadata, updated_at = %(now)s
    FROM json_to_recordset(%(changed)s::json) AS j(
        id bigint, status text, started_at timestamptz, finished_at timestamptz,
        error_message text, failure_signature text, metadata jsonb
    )
    WHERE r.id = j.id
)
UPDATE runs_pipelinestate AS s
SET {_STATE_ASSIGNMENTS}, {_WINDOW_CLEARED}, refreshed_at = %(now)s
FROM json_populate_recordset(NULL::runs_pipelinestate, %(states)s::json) AS j
WHERE s.pipeline_id = j.pipeline_id
"""  # noqa: S608 -- constants of this module


# --- The transaction ----------------------------------------------------------------------------


class _HandBack(Exception):
    """The call is the plain path's (the transaction was rolled back)."""


def ingest_runs(*, client: Client, items: Sequence[Any]) -> IngestResult | None:
    """``runs.ingest.ingest_runs(client=…, items=…)``, or None when the plain path must take
    the call. Outside any transaction of the caller's only."""
    if connection.in_atomic_block:
        return None
    results: dict[int, ItemResult] = {}
    valid: list[Item] = []
    for index, item in enumerate(items):
        attrs, errors = validate(item)
        if errors is not None:
            results[index] = ItemResult(index=index, outcome=REJECTED, errors=errors)
        else:
            valid.append(Item.of(index, attrs))
    if valid:
        try:
            _write(client, valid, results)
        except _HandBack:
            return None
    return summarize(results, len(items))


def _write(client: Client, items: list[Item], results: dict[int, ItemResult]) -> None:
    connection.ensure_connection()
    conn: psycopg.Connection = connection.connection
    prepare = True if settings.DB_PREPARED_STATEMENTS else None
    slugs = sorted({item.pipeline_slug for item in items})
    keys = sorted({(item.pipeline_slug, item.external_run_id) for item in items})
    days = rollups.lockable({item.event.started_at.astimezone(dt.UTC).date() for item in items})
    states_cur, runs_cur, ids_cur = (psycopg.Cursor(conn) for _ in range(3))
    with connection.wrap_database_errors:
        try:
            with conn.pipeline():
                # READ COMMITTED whatever the session's default: the rollup's day locks need a
                # new snapshot per statement (runs/rollups.py).
                states_cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                if prepare:
                    # Parsed once per connection, planned on every execution (see CUSTOM_PLANS).
                    states_cur.execute(CUSTOM_PLANS)
                states_cur.execute(LOCK_STATES, [client.pk, slugs], prepare=prepare)
                runs_cur.execute(
                    LOCK_RUNS,
                    [[slug for slug, _ in keys], [run_id for _, run_id in keys], client.pk],
                    prepare=prepare,
                )
                ids_cur.execute(
                    LOCK_DAYS_AND_RESERVE_IDS,
                    [rollups.ROLLUP_LOCK_NAMESPACE, [rollups.lock_key(d) for d in days], len(keys)],
                    prepare=prepare,
                )
            locked = states_cur.fetchall()
            if len(locked) < len(slugs):
                raise _HandBack  # a pipeline's first run, or a slug the client does not have
            stored_rows = runs_cur.fetchall()
            ((_, reserved),) = ids_cur.fetchall()
            pipelines = {row[0]: row[1] for row in locked}
            plans = plan_runs(items, pipelines)
            stored = {(pipelines[row[1]], row[2]): row for row in stored_rows}
            new_ids = iter(reserved)
            run_ids: dict[tuple[int, str], int] = {}
            for key in sorted(plans):
                plan, row = plans[key], stored.get(key)
                if row is None:
                    plan.fold(None, None)
                    run_ids[key] = next(new_ids)
                else:
                    plan.fold(row[0], _stored_fields(row))
                    run_ids[key] = row[0]
            derived = derive(
                {row[1]: StateValues(*row[2:]) for row in locked},
                [plan.change(run_ids[key]) for key, plan in plans.items() if plan.writes],
            )
            now = timezone.now()
            signatures = _write_all(conn, plans, run_ids, derived, days, now, prepare)
        except (_HandBack, pg_errors.UniqueViolation) as exc:
            _rollback(conn)
            raise _HandBack from exc
        except BaseException:
            _rollback(conn)
            raise
    if derived.terminal:
        terminal_runs_ingested.send(sender=Run, pipeline_ids=derived.terminal)
    single = len(items) == 1
    for key, plan in plans.items():
        run = (
            _run_answer(plan, run_ids[key], stored.get(key), now, signatures.get(key))
            if single
            else None
        )
        plan.record(results, run_ids[key], run=run)


def _write_all(
    conn, plans, run_ids, derived: Derived, locked_days, now, prepare
) -> dict[tuple[int, str], str | None]:
    """Round trip 2: the runs and the states, the rollup's markers, the commit; the states of
    pipelines ``advance`` could not move recomputed from the runs in between. Answers the
    failure signature written with each run, by key."""
    new, changed = [], []
    signatures = {}
    for key, plan in sorted(plans.items()):
        if not plan.writes:
            continue
        values = _json_values(plan.final)
        signatures[key] = values["failure_signature"]
        if plan.stored is None:
            new.append(
                {"id": run_ids[key], "pipeline_id": key[0], "external_run_id": key[1]} | values
            )
        else:
            changed.append({"id": run_ids[key]} | values)
    states = dict(derived.states)
    cursor = psycopg.Cursor(conn)
    if derived.stale:
        # The runs first, for the recomputation to read them; the states after.
        cursor.execute(
            WRITE,
            {"now": now, "new": json.dumps(new), "changed": json.dumps(changed), "states": "[]"},
            prepare=prepare,
        )
        states |= recompute(derived.stale)
        new, changed = [], []
    # A run moved to an earlier day takes that day's lock too, before the markers are read.
    days = rollups.lockable(derived.days)
    extra_days = sorted(set(days) - set(locked_days))
    with conn.pipeline():
        cursor.execute(
            WRITE,
            {
                "now": now,
                "new": json.dumps(new),
                "changed": json.dumps(changed),
                "states": json.dumps(
                    [_json_state(pipeline_id, state) for pipeline_id, state in states.items()]
                ),
            },
            prepare=prepare,
        )
        if extra_days:
            cursor.execute(
                rollups.LOCK_DAYS_SHARED,
                [rollups.ROLLUP_LOCK_NAMESPACE, [rollups.lock_key(day) for day in extra_days]],
                prepare=prepare,
            )
        if days:
            cursor.execute(rollups.FORGET_DAYS, [days], prepare=prepare)
        cursor.execute("COMMIT")
    return signatures


def _stored_fields(row: Sequence[Any]) -> RunFields:
    status, started_at, finished_at, error_message, metadata = row[3:8]
    # Django's psycopg set-up hands jsonb over as text, for JSONField to decode.
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return RunFields(status, started_at, finished_at, error_message, metadata)


def _json_values(fields: RunFields) -> dict[str, Any]:
    return {
        "status": fields.status,
        "started_at": fields.started_at.isoformat(),
        "finished_at": fields.finished_at.isoformat() if fields.finished_at else None,
        "error_message": fields.error_message,
        "failure_signature": signature_of(fields),
        "metadata": fields.metadata,
    }


def _json_state(pipeline_id: int, state: StateValues) -> dict[str, Any]:
    """A state as json_populate_recordset reads it into a runs_pipelinestate row."""
    values: dict[str, Any] = {"pipeline_id": pipeline_id}
    for name in STATE_FIELDS:
        value = getattr(state, name)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, dt.timedelta):
            value = f"{value.total_seconds()} seconds"
        elif isinstance(value, list) and value and isinstance(value[0], dt.datetime):
            value = [moment.isoformat() for moment in value]
        values[name] = value
    return values


def _run_answer(plan: RunPlan, run_id: int, row, now: dt.datetime, written_signature) -> Run:
    """The stored run, as the API answers with it (no query: every value is at hand)."""
    final = plan.final or _stored_fields(row)
    created_at = row[8] if row is not None else now
    updated_at = now if plan.writes else row[9]
    signature = written_signature if plan.writes else row[10]
    return Run(
        id=run_id,
        pipeline_id=plan.pipeline_id,
        external_run_id=plan.external_run_id,
        created_at=created_at,
        updated_at=updated_at,
        failure_signature=signature,
        **{name: getattr(final, name) for name in RUN_FIELDS},
    )


def _rollback(conn: psycopg.Connection) -> None:
    if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        psycopg.Cursor(conn).execute("ROLLBACK")
