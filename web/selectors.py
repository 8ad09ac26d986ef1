"""Reads for the staff pages. Dashboard figures come from the views of schema ``reporting``
(through runs.reporting), so that pages, API and dashboards show the same numbers; run lists
read the runs table through its (pipeline_id, started_at, id) and (started_at, id) indexes,
a bounded page at a time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connections, router
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import RowNumber, TruncWeek
from django.utils import timezone

from alerts.models import AlertRule
from inventory.models import Client, Pipeline
from runs.models import OUTCOME_STATUSES, Run, RunStatus
from runs.reporting import (
    ClientGovernance,
    ClientHealth,
    DailyFailureTotals,
    ErrorSignature,
    Flakiness,
    FreshnessProblem,
    Incident,
    IncidentPipeline,
    PipelineChange,
    PipelineGovernance,
    PipelineLatestStatus,
    PlatformFailureRate,
    TriageEntry,
    WeeklyTrend,
)

RUN_STRIP_LENGTH = 20
# How far back the incident views read failed runs (reporting.q11_incident_pipelines).
INCIDENT_WINDOW = dt.timedelta(days=7)
# Q2's health states, the ones needing attention first.
HEALTH_ORDER = ("failing", "stale", "running", "never_run", "healthy")


# --- Overview -------------------------------------------------------------------------------


def failing_now() -> QuerySet[TriageEntry]:
    """Q6, worst first: the longest streaks, then the oldest."""
    return TriageEntry.objects.order_by("-consecutive_failures", "failing_since", "pipeline_id")


def incidents() -> QuerySet[Incident]:
    """Q11 incidents: open ones first, then the most recently seen."""
    return Incident.objects.order_by("state", "-last_seen", "incident_key")  # open < resolved


def first_incidents(*, limit: int) -> tuple[list[dict], int, int]:
    """The first ``limit`` incidents (open first), how many there are and how many are open,
    in one read of the view."""
    open_one = Case(When(state="open", then=Value(1)), default=Value(0))
    rows = list(
        incidents()
        .annotate(total_rows=Window(Count("*")), open_rows=Window(Sum(open_one)))[:limit]
        .values()
    )
    return rows, (rows[0]["total_rows"] if rows else 0), (rows[0]["open_rows"] if rows else 0)


def pipelines_of_incident(incident_key: str) -> list[IncidentPipeline]:
    """An incident's pipelines: still failing first, then by client and name."""
    return list(incident_pipeline_rows().filter(incident_key=incident_key))


def incident_pipeline_rows() -> QuerySet[IncidentPipeline]:
    return IncidentPipeline.objects.order_by(
        "incident_key", "-is_open", "client_name", "pipeline_name", "pipeline_id"
    )


def incidents_of_pipeline(
    pipeline: Pipeline, *, last_failure_at: dt.datetime | None
) -> list[IncidentPipeline]:
    """The pipeline's part in the incidents of the last 7 days, open first then the most
    recent; no read at all when it has not failed within them (``last_failure_at``)."""
    if last_failure_at is None or last_failure_at < timezone.now() - INCIDENT_WINDOW:
        return []
    return list(
        IncidentPipeline.objects.filter(pipeline_id=pipeline.pk).order_by(
            "-is_open", "-last_failed_at", "incident_key"
        )
    )


def error_signatures(rank_by: str = "7d") -> QuerySet[ErrorSignature]:
    """Q11 signatures of the last 30 days, the most failures first over ``rank_by`` (7d or
    30d), then over the other window."""
    first, then = ("-failures_7d", "-failures_30d")
    if rank_by == "30d":
        first, then = then, first
    return ErrorSignature.objects.order_by(first, then, "-last_seen", "failure_signature")


def client_health() -> QuerySet[ClientHealth]:
    """Q3 for active clients, the ones needing attention first."""
    return ClientHealth.objects.filter(is_active=True).order_by(
        "-failing", "-stale", F("failure_rate_7d").desc(nulls_last=True), "client_name"
    )


def platform_failure_rates(window_label: str = "7d") -> QuerySet[PlatformFailureRate]:
    """Q8 for one window, ranked by the Wilson lower bound (small samples do not top it)."""
    return PlatformFailureRate.objects.filter(window_label=window_label).order_by(
        F("wilson_lower").desc(nulls_last=True), "platform"
    )


@dataclass(frozen=True)
class OutcomeCount:
    """Successful and failed runs of one UTC day or week (named like the views' column)."""

    bucket_start: dt.date
    successes: int
    failures: int

    @property
    def failure_rate(self) -> float | None:
        outcomes = self.successes + self.failures
        return self.failures / outcomes if outcomes else None


def failures_per_day(*, days: int = 30) -> list[OutcomeCount]:
    """Q1 summed over clients and platforms (its per-day view, which reads the rollup's
    per-platform totals): one entry per UTC day, days without runs as 0."""
    today = timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    first_instant = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    totals = {
        row["bucket_start"].astimezone(dt.UTC).date(): row
        for row in DailyFailureTotals.objects.filter(bucket_start__gte=first_instant).values(
            "bucket_start", "successes", "failures"
        )
    }
    out = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        row = totals.get(day, {})
        out.append(OutcomeCount(day, row.get("successes") or 0, row.get("failures") or 0))
    return out


def inventory_counts() -> dict[str, bool]:
    """What exists at all, for the empty states (cheap: each an EXISTS)."""
    return {
        "has_clients": Client.objects.exists(),
        "has_pipelines": Pipeline.objects.exists(),
        "has_runs": Run.objects.exists(),
    }


# --- Client page ----------------------------------------------------------------------------


def pipeline_statuses(client: Client) -> QuerySet[PipelineLatestStatus]:
    """Q2 for one client's pipelines: failing first, then by name."""
    worst_first = Case(
        *(When(health=state, then=Value(rank)) for rank, state in enumerate(HEALTH_ORDER)),
        default=Value(len(HEALTH_ORDER)),
    )
    return PipelineLatestStatus.objects.filter(client_id=client.pk).order_by(
        "-is_active", worst_first, "pipeline_name"
    )


class RunCell(NamedTuple):
    """What one cell of a run strip shows."""

    external_run_id: str
    status: str
    started_at: dt.datetime


def last_runs_by_pipeline(
    pipeline_ids: list[int], *, per_pipeline: int = RUN_STRIP_LENGTH
) -> dict[int, list[RunCell]]:
    """The newest ``per_pipeline`` runs of each pipeline, oldest first, in one query.

    A LATERAL index lookup per pipeline (run_pipeline_started), so the cost is pipelines ×
    ``per_pipeline`` rows whatever the length of each history. Only what a strip shows is
    read, as tuples: a client page holds thousands of cells.
    """
    strips: dict[int, list[RunCell]] = defaultdict(list)
    if not pipeline_ids:
        return strips
    # Raw SQL: the database router is asked by hand (chm_project/db_router.py).
    with connections[router.db_for_read(Run)].cursor() as cursor:
        cursor.execute(
            """
            SELECT r.pipeline_id, r.external_run_id, r.status, r.started_at
            FROM unnest(%s::bigint[]) AS p(id)
            CROSS JOIN LATERAL (
                SELECT pipeline_id, external_run_id, status, started_at, id
                FROM runs_run
                WHERE runs_run.pipeline_id = p.id
                ORDER BY started_at DESC, id DESC
                LIMIT %s
            ) AS r
            ORDER BY r.pipeline_id, r.started_at, r.id
            """,
            [list(pipeline_ids), per_pipeline],
        )
        for pipeline_id, *cell in cursor.fetchall():
            strips[pipeline_id].append(RunCell(*cell))
    return strips


def weekly_trend(client: Client) -> QuerySet[WeeklyTrend]:
    """Q4 for one client, oldest week first."""
    return WeeklyTrend.objects.filter(client_id=client.pk).order_by("bucket_start")


# --- Pipeline page --------------------------------------------------------------------------


def pipeline_status(pipeline: Pipeline) -> PipelineLatestStatus:
    return PipelineLatestStatus.objects.get(pipeline_id=pipeline.pk)


def recent_finished_runs(pipeline: Pipeline, *, limit: int = 50) -> list[Run]:
    """The newest ``limit`` finished runs, oldest first (for the duration chart)."""
    runs = list(
        Run.objects.for_pipeline(pipeline)
        .finished()
        .newest_first()
        .only("id", "external_run_id", "status", "started_at", "finished_at", "duration")[:limit]
    )
    runs.reverse()
    return runs


def weekly_failure_rate(pipeline: Pipeline, *, weeks: int = 13) -> list[OutcomeCount]:
    """Failure rate per UTC week for one pipeline, the current week and ``weeks - 1`` before."""
    today = timezone.now().astimezone(dt.UTC).date()
    this_monday = today - dt.timedelta(days=today.weekday())
    first = this_monday - dt.timedelta(weeks=weeks - 1)
    counts = {
        row["week"].astimezone(dt.UTC).date(): row
        for row in Run.objects.for_pipeline(pipeline)
        .filter(
            status__in=OUTCOME_STATUSES,
            started_at__gte=dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC),
        )
        .annotate(week=TruncWeek("started_at", tzinfo=dt.UTC))
        .values("week")
        .annotate(
            successes=Count("id", filter=Q(status=RunStatus.SUCCESS)),
            failures=Count("id", filter=Q(status=RunStatus.FAILED)),
        )
    }
    out = []
    for offset in range(weeks):
        week = first + dt.timedelta(weeks=offset)
        row = counts.get(week, {})
        out.append(OutcomeCount(week, row.get("successes", 0), row.get("failures", 0)))
    return out


def rules_covering(pipeline: Pipeline) -> QuerySet[AlertRule]:
    """Every alert rule that applies to the pipeline, enabled first, with whether it fires for
    the pipeline now (``is_firing``)."""
    return (
        AlertRule.objects.covering(pipeline)
        .with_state(pipeline)
        .select_related("pipeline")
        .order_by("-is_enabled", "pipeline_id", "name")
    )


# --- Run lists (keyset pagination) ----------------------------------------------------------


@dataclass(frozen=True)
class RunCursor:
    """Position after a run in the (started_at DESC, id DESC) order: "<epoch µs>-<id>"."""

    started_at: dt.datetime
    id: int

    def encode(self) -> str:
        micros = (self.started_at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            microseconds=1
        )
        return f"{micros}-{self.id}"

    @classmethod
    def decode(cls, raw: str) -> RunCursor:
        """Raises ValueError for anything but two integers."""
        micros, _, run_id = raw.partition("-")
        if not micros.isdigit() or not run_id.isdigit():
            raise ValueError("expected <epoch microseconds>-<run id>")
        started_at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
        return cls(started_at, int(run_id))


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_cursor: RunCursor | None


def run_page(runs: QuerySet[Run], *, after: RunCursor | None, size: int = 50) -> RunPage:
    """One page of ``runs``, newest first, after ``after``; reads ``size + 1`` rows at most."""
    ordered = runs.newest_first()
    if after is not None:
        ordered = ordered.filter(
            Q(started_at__lt=after.started_at) | Q(started_at=after.started_at, id__lt=after.id)
        )
    rows = list(ordered[: size + 1])
    if len(rows) > size:
        last = rows[size - 1]
        return RunPage(rows[:size], RunCursor(last.started_at, last.id))
    return RunPage(rows, None)


def explorer_runs() -> QuerySet[Run]:
    """The run explorer's base set, with what each row shows."""
    return Run.objects.select_related("pipeline__client").defer("metadata")


# --- Flaky, what changed, freshness, governance ---------------------------------------------


@dataclass(frozen=True)
class Sections:
    """A view's rows split by one column: every section's size and its first rows."""

    counts: dict[str, int]
    rows: dict[str, list[dict]]

    def count(self, section: str) -> int:
        return self.counts.get(section, 0)

    def first_rows(self, section: str) -> list[dict]:
        return self.rows.get(section, [])

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def first_rows_and_count(rows: QuerySet, *, limit: int | None) -> tuple[list[dict], int]:
    """The first ``limit`` of ``rows`` (ordered; all of them for None) and how many there are,
    in one query: the count is a window over the whole result, taken before the LIMIT."""
    first = list(rows.annotate(total_rows=Window(Count("*")))[:limit].values())
    return first, first[0]["total_rows"] if first else 0


def sections_of(
    rows: QuerySet, *, section: str, limit: int, fetch_shown_by_pk: bool = False
) -> Sections:
    """Split ``rows`` (ordered) by the value of ``section``: the size of each section and its
    first ``limit`` rows, in one query.

    The database counts and ranks (window functions over one read of the view) and sends at
    most ``limit`` rows per section, so a page over 10,000 pipelines neither transfers nor
    builds 10,000 rows to show 200 of them and the totals.

    Ranking sorts every row of the view, each with all its columns: for the flaky ranking,
    10,000 rows of text spilled to disk and cost more than the view itself. With
    ``fetch_shown_by_pk``, the ranking reads only the section and ordering columns, and the
    rows shown are read again by primary key in the same statement (so both reads see the
    same data and the same clock). Only for a view whose rows are cheap to look up by key.
    """
    order_by = list(rows.query.order_by)
    ranked = rows.annotate(
        section_size=Window(Count("*"), partition_by=[F(section)]),
        section_rank=Window(RowNumber(), partition_by=[F(section)], order_by=order_by),
    ).filter(section_rank__lte=limit)
    counts: dict[str, int] = {}
    first: dict[str, list[dict]] = defaultdict(list)
    for row in shown_rows_by_pk(ranked) if fetch_shown_by_pk else ranked.values():
        key = row[section]
        counts[key] = row["section_size"]
        first[key].append(row)
    for section_rows in first.values():
        section_rows.sort(key=lambda row: row["section_rank"])
    return Sections(counts, dict(first))


def shown_rows_by_pk(ranked: QuerySet) -> list[dict]:
    """Every column of the rows that ``ranked`` (annotated with section_size and
    section_rank) keeps, with those two: the ranking computes only its narrow columns, and a
    lookup per kept row, one that LATERAL and OFFSET 0 keep the planner from turning into a
    second read of the whole view, fetches the rest."""
    narrow_sql, params = (
        ranked.order_by().values_list("pk", "section_size", "section_rank").query.sql_with_params()
    )
    meta = ranked.model._meta
    # The alias the router gives the ranking (the replica for page reads when there is one).
    database = connections[ranked.db]
    quote = database.ops.quote_name
    # Identifiers come from the model and the ranking from the ORM; values stay parameters.
    query = (
        f"SELECT shown.*, ranked.section_size, ranked.section_rank FROM ({narrow_sql}) AS ranked"  # noqa: S608
        f" CROSS JOIN LATERAL (SELECT * FROM {quote(meta.db_table)} AS v"
        f" WHERE v.{quote(meta.pk.column)} = ranked.pk OFFSET 0) AS shown"
    )
    with database.cursor() as cursor:
        cursor.execute(query, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def flaky_ranking() -> QuerySet[Flakiness]:
    """Q7 ranked: flip rate (unknown last), then failures."""
    return Flakiness.objects.order_by(
        F("flip_rate").desc(nulls_last=True), "-failures", "pipeline_id"
    )


def what_changed() -> QuerySet[PipelineChange]:
    """Q5 rows with a notable change, grouped by kind of change."""
    return PipelineChange.objects.exclude(change__isnull=True).order_by(
        "change", "client_name", "pipeline_name"
    )


def freshness_problems() -> QuerySet[FreshnessProblem]:
    """Q9, latest first within each kind."""
    return FreshnessProblem.objects.order_by("kind", "-late_by_minutes", "row_key")


def governance_by_client() -> QuerySet[ClientGovernance]:
    """Q10 per client, least covered first."""
    return ClientGovernance.objects.order_by(F("coverage_pct").asc(nulls_first=True), "client_name")


def governance_gaps() -> QuerySet[PipelineGovernance]:
    """Q10 pipelines missing an owner, documentation or an enabled alert rule."""
    return PipelineGovernance.objects.filter(
        Q(has_owner=False) | Q(has_documentation=False) | Q(is_covered=False)
    ).order_by("client_name", "pipeline_name")
