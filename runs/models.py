from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from inventory.models import Client, Pipeline


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    SKIPPED = "skipped", "Skipped"


NON_TERMINAL_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SKIPPED)
# Failure rates count failed / (success + failed); canceled and skipped runs stay out.
OUTCOME_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED)


class RunQuerySet(models.QuerySet):
    def for_client(self, client: Client) -> RunQuerySet:
        return self.filter(pipeline__client=client)

    def for_pipeline(self, pipeline: Pipeline) -> RunQuerySet:
        return self.filter(pipeline=pipeline)

    def finished(self) -> RunQuerySet:
        return self.filter(status__in=TERMINAL_STATUSES)

    def failed(self) -> RunQuerySet:
        return self.filter(status=RunStatus.FAILED)

    def in_progress(self) -> RunQuerySet:
        return self.filter(status__in=NON_TERMINAL_STATUSES)

    def newest_first(self) -> RunQuerySet:
        return self.order_by("-started_at", "-id")


class Run(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (pipeline_id, external_run_id) constraint leads with it.
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    external_run_id = models.CharField(
        max_length=255, help_text="The scheduler's own id for this run."
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Derived by PostgreSQL so that it can never disagree with the two timestamps.
    duration = models.GeneratedField(
        expression=F("finished_at") - F("started_at"),
        output_field=models.DurationField(),
        db_persist=True,
    )
    error_message = models.TextField(blank=True)
    # The failure signature of a failed run's error message (runs/signatures.py); NULL for any
    # other status and for a failure without a message. Written by every writer of runs with
    # the message it derives from.
    failure_signature = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, help_text="When CHM first received it.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        constraints = [
            # The idempotency key of ingestion: a replayed run never becomes a second row.
            models.UniqueConstraint(
                fields=["pipeline", "external_run_id"], name="run_pipeline_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="run_status_known"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                name="run_finished_not_before_started",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=NON_TERMINAL_STATUSES) | Q(finished_at__isnull=True),
                name="run_in_progress_not_finished",
            ),
            models.CheckConstraint(
                condition=~Q(external_run_id=""), name="run_external_id_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(failure_signature__isnull=True) | Q(status=RunStatus.FAILED),
                name="run_signature_only_when_failed",
            ),
        ]
        indexes = [
            # A pipeline's history, newest first (pipeline page, latest-run lookups).
            models.Index(
                F("pipeline"), F("started_at").desc(), F("id").desc(), name="run_pipeline_started"
            ),
            # Time-windowed reads across pipelines (run explorer, daily and weekly views). The
            # included columns let the dashboards count a window's runs per pipeline and status
            # from the index alone (index-only scans), without visiting scattered heap pages.
            models.Index(
                F("started_at").desc(),
                F("id").desc(),
                name="run_started_incl",
                include=["pipeline", "status"],
            ),
            # Latest success-or-failed runs per pipeline (triage, flakiness, what changed)
            # without the noise; status and duration included for index-only reads.
            models.Index(
                F("pipeline"),
                F("started_at").desc(),
                F("id").desc(),
                name="run_pipeline_outcome_incl",
                condition=Q(status__in=OUTCOME_STATUSES),
                include=["status", "duration"],
            ),
            # Failed runs per pipeline (last failure, failure streaks): a few percent of the
            # rows, so finding a pipeline's last failure never walks its whole history.
            models.Index(
                F("pipeline"),
                F("started_at").desc(),
                F("id").desc(),
                name="run_pipeline_failed",
                condition=Q(status=RunStatus.FAILED),
            ),
            # Failed runs of one signature over time (the error signatures page, incidents
            # sharing a signature): a few percent of the rows.
            models.Index(
                F("failure_signature"),
                F("started_at"),
                name="run_failed_signature",
                condition=Q(status=RunStatus.FAILED, failure_signature__isnull=False),
            ),
            # The recent failed runs across pipelines (incidents read a bounded window of them),
            # with what the grouping needs (id, pipeline, signature) for index-only reads.
            models.Index(
                F("started_at"),
                name="run_failed_recent_incl",
                condition=Q(status=RunStatus.FAILED),
                include=["id", "pipeline", "failure_signature"],
            ),
            # Runs still in progress (stuck and long-running checks).
            models.Index(
                F("pipeline"),
                F("started_at"),
                name="run_in_progress",
                condition=Q(status__in=NON_TERMINAL_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_run_id} ({self.status})"


# A pipeline state's what-changed window is set whole: its bounds and counts (its p95s and
# oldest starts may be NULL: no such runs), or nothing.
CHANGE_WINDOW_REQUIRED = (
    "changes_week_start",
    "changes_fortnight_start",
    "changes_successes_7d",
    "changes_failures_7d",
    "changes_successes_prev_7d",
    "changes_failures_prev_7d",
)
CHANGE_WINDOW_OPTIONAL = (
    "changes_expires_at",
    "changes_p95_seconds_7d",
    "changes_p95_seconds_prev_7d",
    "changes_oldest_7d",
    "changes_oldest_14d",
)


class PipelineState(models.Model):
    """What the status views need to know about one pipeline's runs, kept by its writers.

    Every writer of runs writes the pipeline's row in the same transaction, under the row's
    lock (runs/pipeline_state.py defines the values and how they move), so the views that read
    it (Q2, Q3, Q6, Q7, Q9, Q5 through its what-changed window) and the consecutive-failure
    alerts see exactly what a lookup in the runs themselves would find, at a cost that follows
    the number of pipelines instead of the history stored. A pipeline without runs has no row,
    or an empty one (``last_run_id`` NULL): the views read both alike.
    """

    pipeline = models.OneToOneField(
        Pipeline, on_delete=models.CASCADE, primary_key=True, related_name="run_state"
    )
    # NULL where there is no such run, text fields included: the views return NULL then.
    # The latest run (by started_at, id), whatever its status.
    last_run_id = models.BigIntegerField(null=True)
    last_external_run_id = models.CharField(max_length=255, null=True)  # noqa: DJ001
    last_status = models.CharField(max_length=16, null=True)  # noqa: DJ001
    last_started_at = models.DateTimeField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    last_duration = models.DurationField(null=True)
    # The latest success-or-failed run.
    last_outcome_id = models.BigIntegerField(null=True)
    last_outcome_status = models.CharField(max_length=16, null=True)  # noqa: DJ001
    last_outcome_started_at = models.DateTimeField(null=True)
    last_outcome_error = models.TextField(null=True)  # noqa: DJ001
    last_success_id = models.BigIntegerField(null=True)
    last_success_started_at = models.DateTimeField(null=True)
    last_success_finished_at = models.DateTimeField(null=True)
    last_failure_finished_at = models.DateTimeField(null=True)
    last_failure_error = models.TextField(null=True)  # noqa: DJ001
    # Failed runs after the last success (all of them if none), and the first one's start.
    consecutive_failures = models.BigIntegerField(default=0)
    failing_since = models.DateTimeField(null=True)
    # The last 20 success-or-failed runs, newest first: their starts, and running totals of
    # failures and of flips (adjacent runs with different outcomes) over the first i of them,
    # so that any prefix (the runs within a time window) is read without the runs themselves.
    recent_started_at = ArrayField(models.DateTimeField(), null=True)
    recent_failures = ArrayField(models.IntegerField(), null=True)
    recent_flips = ArrayField(models.IntegerField(), null=True)
    # Position of the newer run of the newest flip in those arrays.
    recent_newest_flip = models.IntegerField(null=True)
    refreshed_at = models.DateTimeField()
    # Q5's what-changed window as of changes_as_of: the success-or-failed runs in the 7 days
    # before it and the 7 before those (bounds as computed then), their counts and the p95
    # durations of their successes, and the start of the oldest run of the last 7 and of the
    # 14 days, which say until when the figures hold (runs/sql/functions/runs_change_window.sql). All
    # NULL until runs_refresh_change_windows computes them, and again whenever runs change.
    changes_as_of = models.DateTimeField(null=True)
    # When a run of the window may first have crossed its edge: the refresh's queue.
    changes_expires_at = models.DateTimeField(null=True)
    changes_week_start = models.DateTimeField(null=True)
    changes_fortnight_start = models.DateTimeField(null=True)
    changes_successes_7d = models.BigIntegerField(null=True)
    changes_failures_7d = models.BigIntegerField(null=True)
    changes_successes_prev_7d = models.BigIntegerField(null=True)
    changes_failures_prev_7d = models.BigIntegerField(null=True)
    changes_p95_seconds_7d = models.FloatField(null=True)
    changes_p95_seconds_prev_7d = models.FloatField(null=True)
    changes_oldest_7d = models.DateTimeField(null=True)
    changes_oldest_14d = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            # Triage (Q6) reads the failing pipelines only: a few percent of the rows, found
            # without a scan of the whole table (whose size follows its rewrites as well).
            models.Index(
                fields=["pipeline"],
                name="pipeline_state_failing",
                condition=Q(last_outcome_status=RunStatus.FAILED),
            ),
            # The what-changed refresh's queue: windows cleared by a write, and those expiring.
            models.Index(
                fields=["pipeline"],
                name="pipeline_state_window_missing",
                condition=Q(changes_as_of__isnull=True),
            ),
            models.Index(fields=["changes_expires_at"], name="pipeline_state_window_expires"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    changes_as_of__isnull=True,
                    **{
                        f"{name}__isnull": True
                        for name in CHANGE_WINDOW_REQUIRED + CHANGE_WINDOW_OPTIONAL
                    },
                )
                | Q(
                    changes_as_of__isnull=False,
                    **{f"{name}__isnull": False for name in CHANGE_WINDOW_REQUIRED},
                ),
                name="pipeline_state_change_window_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"state of pipeline {self.pipeline_id}"


class RolledUpDay(models.Model):
    """A closed UTC day whose run counts are in ``DailyRunCount`` and ``DailyPlatformCount``
    (runs/rollups.py).

    The row exists only while those counts are exact: every writer of runs deletes it in the
    transaction of any change that touches the day (and a trigger on the pipelines table does
    when a pipeline moves to another client or platform, or is deleted). The dashboard views
    count a day without this row from the runs themselves.
    """

    day = models.DateField(primary_key=True)
    rolled_up_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.day.isoformat()


class RollupQueue(models.Model):
    """A closed UTC day whose rollup a writer of runs invalidated: the next refresh counts it
    again (runs/rollups.py). Days that merely closed are found without it."""

    day = models.DateField(primary_key=True)
    queued_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.day.isoformat()


class DayStatusCounts(models.Model):
    """How many runs of a closed UTC day there were, in all and by status (the columns the
    rollup's tables share)."""

    COUNTS = ("runs", "finished_runs", "successes", "failures", "canceled", "skipped")

    runs = models.IntegerField()
    finished_runs = models.IntegerField()
    successes = models.IntegerField()
    failures = models.IntegerField()
    canceled = models.IntegerField()
    skipped = models.IntegerField()

    class Meta:
        abstract = True


class DailyRunCount(DayStatusCounts):
    """Runs that started on one closed UTC day, per client and platform, by status."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+", db_index=False)
    platform = models.CharField(max_length=20)

    class Meta:
        constraints = [
            # Also the index the daily views read a day's rows by.
            models.UniqueConstraint(
                fields=["day", "client", "platform"], name="daily_run_count_unique"
            ),
        ]
        indexes = [
            # A day's counts from the index alone (index-only scans once refresh_daily_rollup
            # has vacuumed them): the views read ~3,500 rows a day at 500 clients.
            models.Index(
                fields=["day"],
                include=["client", "platform", *DayStatusCounts.COUNTS],
                name="daily_run_count_day_incl",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.client_id} {self.platform}: {self.runs}"


class DailyPlatformCount(DayStatusCounts):
    """``DailyRunCount`` summed over clients: one closed UTC day and platform, by status.

    Written, deleted and valid together with the day's ``DailyRunCount`` rows and its
    ``RolledUpDay`` marker. Views that need a day's totals across clients (the overview's
    30-day chart, Q8's windows) read ~11 rows a day here instead of ~3,500 there.
    """

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    platform = models.CharField(max_length=20)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "platform"], name="daily_platform_count_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.platform}: {self.runs}"


# The unmanaged models over the dashboard views belong to this app.
from runs.reporting import (  # noqa: E402, F401
    ClientGovernance,
    ClientHealth,
    DailyFailures,
    DailyFailureTotals,
    ErrorSignature,
    Flakiness,
    FreshnessProblem,
    Incident,
    IncidentPipeline,
    PipelineChange,
    PipelineGovernance,
    PipelineLatestStatus,
    PlatformFailureDaily,
    PlatformFailureRate,
    TriageEntry,
    WeeklyTrend,
)
