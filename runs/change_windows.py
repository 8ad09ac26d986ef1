"""What-changed windows: Q5's figures per pipeline, kept in its state row while they hold.

Q5 (what changed this week against the week before) reads a pipeline's window from
``runs_pipelinestate`` while it is current and counts the pipeline's runs of the last 14 days
otherwise, so the windows make the view faster but never change what it shows
(runs/sql/change_windows_v1.sql explains when a window is current and the locks that keep a
computation from missing a writer's runs). Writing a pipeline's runs clears its window in the
same transaction, and a window computed at one instant expires by itself once one of its runs
crosses the 7- or 14-day edge: ``refresh_change_windows`` computes the windows of the active
pipelines that have none, or an expired one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from runs.rollups import require_read_committed

# Pipelines whose window is missing or expired, among those Q5 shows. Those with a run started
# now or later are left without one by runs_refresh_change_windows itself
# (runs/sql/change_windows_v1.sql says why).
STALE_WINDOWS = """
SELECT s.pipeline_id
FROM runs_pipelinestate s
JOIN inventory_pipeline p ON p.id = s.pipeline_id
JOIN inventory_client c ON c.id = p.client_id
WHERE p.is_active
  AND c.is_active
  AND NOT runs_change_window_is_current(
      s.changes_as_of,
      s.changes_week_start,
      s.changes_fortnight_start,
      s.changes_oldest_7d,
      s.changes_oldest_14d,
      statement_timestamp()
  )
ORDER BY s.pipeline_id
"""

# Pipelines per statement (and transaction, outside one). Over 64 pipelines a computation
# holds the state table against writers of runs: about 25 ms per 1,000 windows at 10 M runs.
BATCH_SIZE = 1000


@dataclass(frozen=True)
class ChangeWindowRefresh:
    windows_computed: int

    def __str__(self) -> str:
        return f"what changed: {self.windows_computed} pipeline windows computed"


def refresh_change_windows() -> ChangeWindowRefresh:
    """Compute the what-changed window of every active pipeline whose window is missing or
    expired, in batches of BATCH_SIZE pipelines. Needs READ COMMITTED."""
    require_read_committed(
        "refresh_change_windows",
        "it computes windows in a snapshot taken after their pipelines' writers have finished",
    )
    with connection.cursor() as cursor:
        cursor.execute(STALE_WINDOWS)
        stale = [pipeline_id for (pipeline_id,) in cursor.fetchall()]
        computed = 0
        for start in range(0, len(stale), BATCH_SIZE):
            cursor.execute(
                "SELECT runs_refresh_change_windows(%s)", [stale[start : start + BATCH_SIZE]]
            )
            (written,) = cursor.fetchone()
            computed += written
    return ChangeWindowRefresh(windows_computed=computed)
