"""The daily rollup: run counts per closed UTC day, client and platform, for the dashboards.

Q1, Q3 and Q8-daily read a closed day from ``DailyRunCount`` (per client and platform), Q1
per day and Q8's windows from ``DailyPlatformCount`` (the same summed over clients), when the
day has a ``RolledUpDay`` marker, and count its runs otherwise, so the rollup makes them
faster but never changes what they show.

Counting is off the write path: ``refresh_daily_rollup`` (``manage.py refresh_rollups``)
counts the days that closed since its last pass and the days queued in ``RollupQueue``. A
writer of runs only keeps the rollup exact: ``runs_written`` deletes the marker of each closed
day it changed (a late event, a correction, a deletion) and queues the day, in the writer's
transaction, so that a reader sees either the change and no marker, or neither.

The lock protocol, on advisory locks (namespace ROLLUP_LOCK_NAMESPACE, a day as its number of
days since 1970-01-01):

* writers take the locks of the days they wrote SHARED, then delete the markers in a later
  statement: writers never wait for each other;
* a refresh takes a day's lock EXCLUSIVE, so it waits for that day's writers still in flight,
  then counts the day in a new statement, whose snapshot (READ COMMITTED) holds every run they
  committed. A writer that comes during the count waits for it, and its later DELETE sees (and
  removes) the marker the refresh wrote.

Either way no snapshot ever sees a marker whose counts miss a committed run. Writers take the
day locks last, after their pipeline state and run locks (runs/ingest.py gives the order), and
a refresh holds a day's lock without taking any other, so the two never wait for each other in
a circle. This needs READ COMMITTED: under REPEATABLE READ a writer's DELETE would use a
snapshot from before the refresh committed, so such writes are refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

# Every taker of a day's lock uses this key space.
ROLLUP_LOCK_NAMESPACE = 7302
# The closed days a refresh counts: the 365 before the current UTC day (what Q1 shows).
HORIZON_DAYS = 365
_EPOCH = dt.date(1970, 1, 1)

# What to count: queued days of the horizon, and the days that closed after the newest one
# rolled up (every closed day gets a marker, empty days too, so that this needs no scan).
DAYS_TO_ROLL_UP = """
SELECT q.day FROM runs_rollupqueue q
WHERE q.day >= %(first)s AND q.day <= %(last)s
UNION
SELECT g.day::date
FROM generate_series(
    GREATEST(%(first)s::date, (SELECT max(m.day) + 1 FROM runs_rolledupday m))::timestamp,
    %(last)s::date::timestamp,
    interval '1 day'
) AS g(day)
ORDER BY 1 DESC
"""

# Queued days that fell out of the horizon: nothing will count them.
PRUNE_QUEUE = "DELETE FROM runs_rollupqueue WHERE day < %s"

LOCK_DAYS_SHARED = """
SELECT current_setting('transaction_isolation'), pg_advisory_xact_lock_shared(%s, d.key)
FROM (SELECT DISTINCT k AS key FROM unnest(%s::integer[]) AS k ORDER BY 1) AS d
"""
# A statement after LOCK_DAYS_SHARED: it sees a marker a refresh committed meanwhile. A day's
# counts exist only next to its marker, so a day without one (the current day, or one not
# rolled up yet) costs an index probe.
FORGET_DAYS = """
WITH gone AS (
    DELETE FROM runs_rolledupday WHERE day = ANY(%s::date[]) RETURNING day
), counts AS (
    DELETE FROM runs_dailyruncount WHERE day IN (SELECT day FROM gone)
), totals AS (
    DELETE FROM runs_dailyplatformcount WHERE day IN (SELECT day FROM gone)
)
INSERT INTO runs_rollupqueue (day, queued_at)
SELECT day, statement_timestamp() FROM gone
ON CONFLICT (day) DO NOTHING
"""


def lock_key(day: dt.date) -> int:
    return (day - _EPOCH).days


def refreshable_days(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day a refresh counts."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    return today - dt.timedelta(days=HORIZON_DAYS), today - dt.timedelta(days=1)


def lockable(days: Iterable[dt.date]) -> list[dt.date]:
    """Those of ``days`` a refresh may count, ascending: the horizon, and the day before it
    too (a refresh may have listed its days before midnight)."""
    first, _ = refreshable_days()
    return sorted({day for day in days if day >= first - dt.timedelta(days=1)})


def runs_written(days: Iterable[dt.date]) -> None:
    """Keep the rollup exact for a transaction that changed runs started on ``days`` (for a
    run that moved, its old and its new day): called in that transaction, after its writes'
    other locks. Days older than the horizon are never counted again and are skipped."""
    wanted = lockable(days)
    if not wanted:
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_DAYS_SHARED, [ROLLUP_LOCK_NAMESPACE, [lock_key(d) for d in wanted]])
        ((isolation, _), *_) = cursor.fetchall()
        if isolation != "read committed":
            # The transaction is rolled back with its writes.
            raise DatabaseError(
                f"runs can only be written under READ COMMITTED isolation, not {isolation}: "
                "the daily rollup's invalidation needs a new snapshot per statement"
            )
        cursor.execute(FORGET_DAYS, [wanted])


# Markers and counts of days the views no longer show.
PRUNE_PAST_HORIZON = """
WITH gone AS (
    DELETE FROM runs_rolledupday WHERE day < %s RETURNING day
), counts AS (
    DELETE FROM runs_dailyruncount WHERE day IN (SELECT day FROM gone) RETURNING 1
), totals AS (
    DELETE FROM runs_dailyplatformcount WHERE day IN (SELECT day FROM gone) RETURNING 1
)
SELECT count(*) FROM gone
"""

LOCK_DAY = "SELECT pg_advisory_xact_lock(%s, %s)"

UNQUEUE_DAY = "DELETE FROM runs_rollupqueue WHERE day = %s"

# One statement, run after LOCK_DAY has returned: its snapshot is taken then, so it holds every
# run that the day's writers committed while the refresh waited for them. A refresh that got
# there first has left its marker, and ON CONFLICT makes this one write nothing. Answers
# whether it wrote the marker. The per-platform totals are summed from the same counts, so the
# two tables cannot disagree. A day without runs gets its marker and no counts.
ROLL_UP_DAY = """
WITH marker AS (
    INSERT INTO runs_rolledupday (day, rolled_up_at)
    VALUES (%(day)s::date, statement_timestamp())
    ON CONFLICT (day) DO NOTHING
    RETURNING day
), day_counts AS (
    SELECT
        m.day,
        p.client_id,
        p.platform,
        count(*) AS runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped'))
            AS finished_runs,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        count(*) FILTER (WHERE r.status = 'failed') AS failures,
        count(*) FILTER (WHERE r.status = 'canceled') AS canceled,
        count(*) FILTER (WHERE r.status = 'skipped') AS skipped
    FROM marker m
    JOIN runs_run r
      ON r.started_at >= m.day::timestamp AT TIME ZONE 'UTC'
     AND r.started_at < (m.day + 1)::timestamp AT TIME ZONE 'UTC'
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    GROUP BY m.day, p.client_id, p.platform
), counts AS (
    INSERT INTO runs_dailyruncount
        (day, client_id, platform, runs, finished_runs, successes, failures, canceled, skipped)
    SELECT day, client_id, platform, runs, finished_runs, successes, failures, canceled, skipped
    FROM day_counts
    RETURNING 1
), totals AS (
    INSERT INTO runs_dailyplatformcount
        (day, platform, runs, finished_runs, successes, failures, canceled, skipped)
    SELECT day, platform, sum(runs), sum(finished_runs), sum(successes), sum(failures),
        sum(canceled), sum(skipped)
    FROM day_counts
    GROUP BY day, platform
    RETURNING 1
)
SELECT count(*) FROM marker
"""


def require_read_committed(what: str, why: str) -> None:
    """Refuse to go on under another isolation level than READ COMMITTED (PostgreSQL's and
    Django's default): the refreshes rely on a new snapshot per statement."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        (isolation,) = cursor.fetchone()
    if isolation != "read committed":
        raise RuntimeError(f"{what} needs READ COMMITTED isolation, not {isolation}: {why}.")


@dataclass(frozen=True)
class RollupRefresh:
    days_rolled_up: int
    days_pruned: int

    def __str__(self) -> str:
        return (
            f"daily rollup: {self.days_rolled_up} days rolled up,"
            f" {self.days_pruned} past the horizon removed"
        )


def refresh_daily_rollup(*, days: list[dt.date] | None = None) -> RollupRefresh:
    """Roll up the days of the views' horizon that closed since the last pass, and those a
    writer queued since.

    Each day is its own short transaction: a day's lock is held only while that day is
    counted. ``days`` restricts the refresh to those of them. Needs READ COMMITTED,
    PostgreSQL's and Django's default.
    """
    require_read_committed(
        "refresh_daily_rollup",
        "it counts a day in a snapshot taken after the day's writers have finished",
    )
    first, last = refreshable_days()
    with connection.cursor() as cursor:
        cursor.execute(PRUNE_PAST_HORIZON, [first])
        (pruned,) = cursor.fetchone()
        cursor.execute(PRUNE_QUEUE, [first])
        cursor.execute(DAYS_TO_ROLL_UP, {"first": first, "last": last})
        candidates = [day for (day,) in cursor.fetchall()]
    if days is not None:
        wanted = set(days)
        candidates = [day for day in candidates if day in wanted]
    rolled_up = 0
    for day in candidates:
        rolled_up += _roll_up_day(day)
    if rolled_up and not connection.in_atomic_block:
        # New counts are read through the index alone only once the visibility map says their
        # pages hold no invisible rows; autovacuum would get there after ~20 % of the table
        # was inserted, weeks of days. VACUUM cannot run inside a transaction (tests).
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM (ANALYZE) runs_dailyruncount, runs_dailyplatformcount, runs_rolledupday,"
                " runs_rollupqueue"
            )
    return RollupRefresh(days_rolled_up=rolled_up, days_pruned=pruned)


def _roll_up_day(day: dt.date) -> bool:
    """Count one closed day into the rollup; False when it already had a marker."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Exclusive: waits for the transactions still writing runs of this day.
        cursor.execute(LOCK_DAY, [ROLLUP_LOCK_NAMESPACE, lock_key(day)])
        cursor.execute(UNQUEUE_DAY, [day])
        cursor.execute(ROLL_UP_DAY, {"day": day})
        (written,) = cursor.fetchone()
        return written == 1
