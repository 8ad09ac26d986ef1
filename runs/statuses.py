"""How schedulers spell run statuses, mapped to CHM's canonical set.

Matching ignores case, surrounding spaces, and treats ``-`` and spaces like ``_``, so
``COMPLETED`` (Prefect), ``SUCCESS`` (Dagster), ``upstream_failed`` (Airflow) and ``COMPLETE``
(OpenLineage) all resolve. The sender's own spelling is kept in the run's metadata under
``SOURCE_STATUS_KEY``. docs/api.md shows the same table.
"""

from __future__ import annotations

from runs.models import RunStatus

SOURCE_STATUS_KEY = "source_status"

# Statuses only move forward: queued (0) → running (1) → a terminal status (2).
STATUS_RANK: dict[str, int] = {
    RunStatus.QUEUED: 0,
    RunStatus.RUNNING: 1,
    RunStatus.SUCCESS: 2,
    RunStatus.FAILED: 2,
    RunStatus.CANCELED: 2,
    RunStatus.SKIPPED: 2,
}
TERMINAL_RANK = 2

STATUS_SPELLINGS: dict[str, tuple[str, ...]] = {
    RunStatus.QUEUED: (
        "queued",
        "scheduled",  # Airflow, Prefect
        "pending",  # Prefect
        "created",
        "waiting",
        "not_started",  # Dagster
        "starting",  # Dagster
        "paused",  # Prefect
        "up_for_retry",  # Airflow: the task waits for its next try
    ),
    RunStatus.RUNNING: (
        "running",
        "start",  # OpenLineage START
        "started",  # Dagster
        "in_progress",
        "managed",  # Dagster
        "canceling",  # Dagster: not canceled until it says so
        "cancelling",  # Prefect
        "deferred",  # Airflow
        "up_for_reschedule",  # Airflow
        "restarting",  # Airflow
        "retrying",  # Prefect sub-state of running
    ),
    RunStatus.SUCCESS: (
        "success",
        "succeeded",
        "successful",
        "complete",  # OpenLineage COMPLETE
        "completed",  # Prefect
        "done",
        "ok",
        "passed",
    ),
    RunStatus.FAILED: (
        "failed",
        "fail",  # OpenLineage FAIL
        "failure",  # Dagster
        "error",
        "errored",
        "crashed",  # Prefect
        "timed_out",
        "timeout",
    ),
    RunStatus.CANCELED: (
        "canceled",
        "cancelled",  # Prefect
        "abort",  # OpenLineage ABORT
        "aborted",
        "killed",
        "terminated",
        "stopped",
    ),
    RunStatus.SKIPPED: (
        "skipped",
        # Airflow counts upstream_failed among failed states; CHM records it as skipped so that
        # one broken task does not count as a failure of every task downstream of it.
        "upstream_failed",
        "removed",  # Airflow
    ),
}

_CANONICAL_BY_SPELLING: dict[str, str] = {
    spelling: str(status)
    for status, spellings in STATUS_SPELLINGS.items()
    for spelling in spellings
}


def canonical_status(spelling: str) -> str | None:
    """The canonical status for a scheduler's spelling, or None when it is not known."""
    key = spelling.strip().lower().replace("-", "_").replace(" ", "_")
    return _CANONICAL_BY_SPELLING.get(key)


def is_terminal(status: str) -> bool:
    return STATUS_RANK[status] == TERMINAL_RANK
