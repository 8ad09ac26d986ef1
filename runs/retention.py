"""Retention: delete old runs in small batches, each in its own short transaction."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from runs import pipeline_state
from runs.derived_state import runs_rewritten

DEFAULT_BATCH_SIZE = 5_000

# One batch: up to N runs before the cutoff, found through the started_at index and deleted by
# their physical address (a TID scan), which costs a fraction of probing the primary key for
# each id. The batch first takes its pipelines' state locks, as every writer of runs does
# (runs/ingest.py gives the order), so it waits for their writers in flight and then holds
# them off for one batch (tens of milliseconds). A run updated meanwhile has moved to a new
# address: this batch leaves it and a later one takes it; the conditions are checked again on
# the row the address holds now.
_CANDIDATES_SQL = "SELECT ctid::text, pipeline_id FROM runs_run WHERE started_at < %s LIMIT %s"
_DELETE_BATCH_SQL = """
    DELETE FROM runs_run
    WHERE ctid = ANY(%s::tid[]) AND started_at < %s AND pipeline_id = ANY(%s::bigint[])
    RETURNING pipeline_id, (started_at AT TIME ZONE 'UTC')::date
"""


@dataclass(frozen=True)
class PruneReport:
    cutoff: dt.datetime
    deleted: int
    batches: int
    seconds: float


def prune_runs_started_before(
    *,
    cutoff: dt.datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int, int], None] | None = None,
) -> PruneReport:
    """Delete every run whose ``started_at`` is before ``cutoff`` (a run started exactly at the
    cutoff is kept), ``batch_size`` rows per transaction.

    Each batch commits on its own, so an interrupted prune keeps what it did and the next one
    continues; locks are held for one batch only. It stops when a batch finds nothing left.
    The pruned pipelines' state and the rollup of the days pruned are kept in each batch's
    transaction. ``pause_seconds`` between batches leaves
    room to autovacuum and to a replica replaying the deletes. ``on_batch(batch, deleted)`` is
    called after each batch with its number and the running total.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be an aware datetime")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.monotonic()
    deleted = batches = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_CANDIDATES_SQL, [cutoff, batch_size])
            candidates = cursor.fetchall()
            if not candidates:
                break
            pipelines = sorted({pipeline_id for _, pipeline_id in candidates})
            pipeline_state.lock(pipelines)
            cursor.execute(_DELETE_BATCH_SQL, [[ctid for ctid, _ in candidates], cutoff, pipelines])
            deleted_runs = cursor.fetchall()
            count = len(deleted_runs)
            runs_rewritten(
                pipeline_ids={pipeline_id for pipeline_id, _ in deleted_runs},
                days={day for _, day in deleted_runs},
            )
        batches += 1
        deleted += count
        if on_batch is not None:
            on_batch(batches, deleted)
        if pause_seconds:
            time.sleep(pause_seconds)
    return PruneReport(
        cutoff=cutoff, deleted=deleted, batches=batches, seconds=time.monotonic() - started
    )
