"""The daily rollup: run counts per closed UTC day, client and platform, for the dashboards.

Q1, Q3 and Q8-daily read a closed day from ``DailyRunCount`` (per client and platform), Q1
per day and Q8's windows from ``DailyPlatformCount`` (the same summed over clients), when the
day has a ``RolledUpDay`` marker, and count its runs otherwise, so the rollup makes them
faster but never changes what they show. It stays exact without a schedule of its own: triggers delete a
day's marker and counts in the transaction of any write that touches the day
(runs/sql/daily_rollup_invalidation_v1.sql explains the lock protocol), and
``refresh_daily_rollup`` counts again the closed days that have no marker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction

# Every taker of a day's lock uses this key space; the SQL functions share it.
ROLLUP_LOCK_NAMESPACE = 7302

# Closed days of the views' horizon that have runs but no marker, newest first (the dashboards'
# default windows are the most recent days). Days without runs are not worth a marker: counting
# nothing from the runs costs one index probe.
DAYS_TO_ROLL_UP = """
SELECT d.day
FROM runs_rollup_refreshable_days() AS d(day)
WHERE NOT EXISTS (SELECT 1 FROM runs_rolledupday m WHERE m.day = d.day)
  AND EXISTS (
      SELECT 1 FROM runs_run r
      WHERE r.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
        AND r.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
  )
ORDER BY d.day DESC
"""

# Markers and counts of days the views no longer show.
PRUNE_PAST_HORIZON = """
WITH gone AS (
    DELETE FROM runs_rolledupday
    WHERE day < (SELECT min(d) FROM runs_rollup_refreshable_days() AS d)
    RETURNING day
), counts AS (
    DELETE FROM runs_dailyruncount WHERE day IN (SELECT day FROM gone) RETURNING 1
), totals AS (
    DELETE FROM runs_dailyplatformcount WHERE day IN (SELECT day FROM gone) RETURNING 1
)
SELECT count(*) FROM gone
"""

LOCK_DAY = "SELECT pg_advisory_xact_lock(%s, runs_rollup_lock_key(%s::date))"

# One statement, run after LOCK_DAY has returned: its snapshot is taken then, so it holds every
# run that the day's writers committed while the refresh waited for them. A refresh that got
# there first has left its marker, and ON CONFLICT makes this one write nothing. Answers
# whether it wrote the marker. The per-platform totals are summed from the same counts, so the
# two tables cannot disagree.
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
    """Roll up the closed days of the views' horizon that have runs and no rollup.

    Each day is its own short transaction: a day's lock is held only while that day is
    counted. ``days`` restricts the refresh to those days (still only closed days of the
    horizon without a marker). Needs READ COMMITTED, PostgreSQL's and Django's default.
    """
    require_read_committed(
        "refresh_daily_rollup",
        "it counts a day in a snapshot taken after the day's writers have finished",
    )
    with connection.cursor() as cursor:
        cursor.execute(PRUNE_PAST_HORIZON)
        (pruned,) = cursor.fetchone()
        cursor.execute(DAYS_TO_ROLL_UP)
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
                "VACUUM (ANALYZE) runs_dailyruncount, runs_dailyplatformcount, runs_rolledupday"
            )
    return RollupRefresh(days_rolled_up=rolled_up, days_pruned=pruned)


def _roll_up_day(day: dt.date) -> bool:
    """Count one closed day into the rollup; False when it already had a marker."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Exclusive: waits for the transactions still writing runs of this day.
        cursor.execute(LOCK_DAY, [ROLLUP_LOCK_NAMESPACE, day])
        cursor.execute(ROLL_UP_DAY, {"day": day})
        (written,) = cursor.fetchone()
        return written == 1
