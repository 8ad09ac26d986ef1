"""Read-only models over the dashboard views of schema ``reporting`` (docs/dashboards.md).

The views are created by migration (runs/sql/views/, runs/sql/manifest.toml); these unmanaged models only let pages and
APIs read them as QuerySets. makemigrations does not track their fields, so a contract test
compares each model with its view's columns.
"""

# ruff: noqa: DJ008 -- every model inherits ReportingView.__str__ (ruff does not follow bases).
from __future__ import annotations

from django.db import models


def view_table(name: str) -> str:
    # Django quotes db_table as one identifier; the inner quotes make it "reporting"."name".
    return f'reporting"."{name}'


class ReportingView(models.Model):
    class Meta:
        abstract = True
        managed = False
        app_label = "runs"

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk}"


class DailyFailures(ReportingView):
    """Q1 failures over time: per UTC day, client and platform."""

    row_key = models.TextField(primary_key=True)
    bucket_start = models.DateTimeField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    runs = models.BigIntegerField()
    finished_runs = models.BigIntegerField()
    successes = models.BigIntegerField()
    failures = models.BigIntegerField()
    canceled = models.BigIntegerField()
    skipped = models.BigIntegerField()
    failure_rate = models.FloatField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q01_failures_over_time")


class DailyFailureTotals(ReportingView):
    """Q1 per day: Q1 summed over clients and platforms, one row per UTC day with runs."""

    row_key = models.TextField(primary_key=True)
    bucket_start = models.DateTimeField()
    runs = models.BigIntegerField()
    finished_runs = models.BigIntegerField()
    successes = models.BigIntegerField()
    failures = models.BigIntegerField()
    canceled = models.BigIntegerField()
    skipped = models.BigIntegerField()
    failure_rate = models.FloatField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q01_failures_per_day")


class PipelineLatestStatus(ReportingView):
    """Q2 latest status of every pipeline."""

    pipeline_id = models.BigIntegerField(primary_key=True)
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    is_active = models.BooleanField()
    freshness_minutes = models.IntegerField()
    last_run_id = models.BigIntegerField()
    last_external_run_id = models.TextField()
    last_status = models.TextField()
    last_started_at = models.DateTimeField()
    last_finished_at = models.DateTimeField()
    last_duration_seconds = models.FloatField()
    last_outcome_status = models.TextField()
    last_success_at = models.DateTimeField()
    last_failure_at = models.DateTimeField()
    last_error = models.TextField()
    never_run = models.BooleanField()
    is_stale = models.BooleanField()
    health = models.TextField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q02_pipeline_latest_status")


class ClientHealth(ReportingView):
    """Q3 health of every client, and its failure rate against last week."""

    client_id = models.BigIntegerField(primary_key=True)
    client_slug = models.TextField()
    client_name = models.TextField()
    is_active = models.BooleanField()
    pipelines = models.BigIntegerField()
    healthy = models.BigIntegerField()
    failing = models.BigIntegerField()
    running = models.BigIntegerField()
    stale = models.BigIntegerField()
    never_run = models.BigIntegerField()
    outcome_runs_7d = models.BigIntegerField()
    failures_7d = models.BigIntegerField()
    failure_rate_7d = models.FloatField()
    outcome_runs_prev_7d = models.BigIntegerField()
    failures_prev_7d = models.BigIntegerField()
    failure_rate_prev_7d = models.FloatField()
    failure_rate_change = models.FloatField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q03_client_health")


class WeeklyTrend(ReportingView):
    """Q4 trend per UTC week and client."""

    row_key = models.TextField(primary_key=True)
    bucket_start = models.DateTimeField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    runs = models.BigIntegerField()
    finished_runs = models.BigIntegerField()
    successes = models.BigIntegerField()
    failures = models.BigIntegerField()
    failure_rate = models.FloatField()
    p50_duration_seconds = models.FloatField()
    p95_duration_seconds = models.FloatField()
    recoveries = models.BigIntegerField()
    mttr_seconds = models.FloatField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q04_weekly_trend")


class PipelineChange(ReportingView):
    """Q5 what changed per active pipeline: this week against the week before."""

    pipeline_id = models.BigIntegerField(primary_key=True)
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    successes_7d = models.BigIntegerField()
    failures_7d = models.BigIntegerField()
    failure_rate_7d = models.FloatField()
    successes_prev_7d = models.BigIntegerField()
    failures_prev_7d = models.BigIntegerField()
    failure_rate_prev_7d = models.FloatField()
    p95_duration_seconds_7d = models.FloatField()
    p95_duration_seconds_prev_7d = models.FloatField()
    failure_rate_change = models.FloatField()
    p95_duration_ratio = models.FloatField()
    is_newly_failing = models.BooleanField()
    is_recovered = models.BooleanField()
    is_slower = models.BooleanField()
    change = models.TextField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q05_what_changed")


class TriageEntry(ReportingView):
    """Q6 what is failing now: active pipelines whose latest outcome failed."""

    pipeline_id = models.BigIntegerField(primary_key=True)
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    consecutive_failures = models.BigIntegerField()
    failing_since = models.DateTimeField()
    last_run_id = models.BigIntegerField()
    last_failure_at = models.DateTimeField()
    last_error = models.TextField()
    last_success_at = models.DateTimeField()
    is_covered = models.BooleanField()
    firing_rules = models.BigIntegerField()
    acknowledged_rules = models.BigIntegerField()
    silenced_rules = models.BigIntegerField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q06_triage")


class Flakiness(ReportingView):
    """Q7 flakiness of every active pipeline over its last 20 outcomes."""

    pipeline_id = models.BigIntegerField(primary_key=True)
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    window_runs = models.BigIntegerField()
    failures = models.BigIntegerField()
    flips = models.BigIntegerField()
    flip_rate = models.FloatField()
    failure_rate = models.FloatField()
    window_start = models.DateTimeField()
    last_flip_at = models.DateTimeField()
    has_enough_history = models.BooleanField()
    is_flaky = models.BooleanField()
    verdict = models.TextField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q07_flaky_ranking")


class PlatformFailureDaily(ReportingView):
    """Q8 failure rate per platform and UTC day."""

    row_key = models.TextField(primary_key=True)
    bucket_start = models.DateTimeField()
    platform = models.TextField()
    finished_runs = models.BigIntegerField()
    outcome_runs = models.BigIntegerField()
    failures = models.BigIntegerField()
    failure_rate = models.FloatField()
    wilson_lower = models.FloatField()
    low_sample = models.BooleanField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q08_platform_failure_daily")


class PlatformFailureRate(ReportingView):
    """Q8 failure rate per platform and window (24h, 7d, 30d)."""

    row_key = models.TextField(primary_key=True)
    platform = models.TextField()
    window_label = models.TextField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    pipelines = models.BigIntegerField()
    finished_runs = models.BigIntegerField()
    outcome_runs = models.BigIntegerField()
    failures = models.BigIntegerField()
    failure_rate = models.FloatField()
    wilson_lower = models.FloatField()
    wilson_upper = models.FloatField()
    low_sample = models.BooleanField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q08_platform_failure_rates")


class FreshnessProblem(ReportingView):
    """Q9 a stale pipeline or a stuck run (``kind``)."""

    row_key = models.TextField(primary_key=True)
    kind = models.TextField()
    pipeline_id = models.BigIntegerField()
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    run_id = models.BigIntegerField()
    external_run_id = models.TextField()
    started_at = models.DateTimeField()
    expected_minutes = models.FloatField()
    last_success_at = models.DateTimeField()
    late_since = models.DateTimeField()
    late_by_minutes = models.BigIntegerField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q09_freshness_and_stuck")


class PipelineGovernance(ReportingView):
    """Q10 governance of every active pipeline."""

    pipeline_id = models.BigIntegerField(primary_key=True)
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    has_owner = models.BooleanField()
    has_documentation = models.BooleanField()
    docs_url = models.TextField()
    pipeline_rules = models.BigIntegerField()
    client_wide_rules = models.BigIntegerField()
    covering_rules = models.BigIntegerField()
    is_covered = models.BooleanField()
    firing_rules = models.BigIntegerField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q10_governance")


class ClientGovernance(ReportingView):
    """Q10 governance per active client."""

    client_id = models.BigIntegerField(primary_key=True)
    client_slug = models.TextField()
    client_name = models.TextField()
    pipelines = models.BigIntegerField()
    with_owner = models.BigIntegerField()
    with_documentation = models.BigIntegerField()
    covered = models.BigIntegerField()
    uncovered = models.BigIntegerField()
    owner_pct = models.DecimalField(max_digits=4, decimal_places=1)
    documentation_pct = models.DecimalField(max_digits=4, decimal_places=1)
    coverage_pct = models.DecimalField(max_digits=4, decimal_places=1)
    enabled_rules = models.BigIntegerField()
    firing_rules = models.BigIntegerField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q10_governance_by_client")


class IncidentPipeline(ReportingView):
    """Q11 one pipeline of one incident: its failures in it and whether it recovered since."""

    row_key = models.TextField(primary_key=True)
    incident_key = models.TextField()
    kind = models.TextField()
    failure_signature = models.TextField(null=True)  # noqa: DJ001
    pipeline_id = models.BigIntegerField()
    pipeline_slug = models.TextField()
    pipeline_name = models.TextField()
    client_id = models.BigIntegerField()
    client_slug = models.TextField()
    client_name = models.TextField()
    platform = models.TextField()
    owner = models.TextField()
    failures = models.BigIntegerField()
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    last_run_id = models.BigIntegerField()
    last_error = models.TextField()
    recovered_at = models.DateTimeField(null=True)
    is_open = models.BooleanField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q11_incident_pipelines")


class Incident(ReportingView):
    """Q11 failures of several pipelines with one cause (a shared signature, or many pipelines
    of one platform at once), shown as one thing to fix."""

    incident_key = models.TextField(primary_key=True)
    kind = models.TextField()
    failure_signature = models.TextField(null=True)  # noqa: DJ001
    platform = models.TextField(null=True)  # noqa: DJ001
    platforms = models.TextField()
    pipelines = models.BigIntegerField()
    clients = models.BigIntegerField()
    failures = models.BigIntegerField()
    open_pipelines = models.BigIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    state = models.TextField()
    example_run_id = models.BigIntegerField()
    example_error = models.TextField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q11_incidents")


class ErrorSignature(ReportingView):
    """Q11 a failure signature of the last 30 days: how often, where, since when."""

    failure_signature = models.TextField(primary_key=True)
    failures_7d = models.BigIntegerField()
    failures_30d = models.BigIntegerField()
    pipelines_7d = models.BigIntegerField()
    pipelines_30d = models.BigIntegerField()
    clients_30d = models.BigIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    example_run_id = models.BigIntegerField()
    example_error = models.TextField()

    class Meta(ReportingView.Meta):
        db_table = view_table("q11_error_signatures")
