"""The staff pages: parse the request, call the selectors, render. Staff with a role only
(chm_project/roles.py)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from alerts.selectors import firing_alerts
from common import charts
from common.csv_export import csv_response
from common.formats import percent as _percent
from common.formats import seconds as _seconds
from inventory.models import Client, Pipeline
from runs.permissions import staff_page
from web import exports, selectors
from web.filters import RunExplorerFilter

OVERVIEW_FAILING_ROWS = 50
# Firing alerts the overview lists, most severe and oldest first; its heading counts them all.
OVERVIEW_FIRING_ROWS = 50
OVERVIEW_CLIENT_TILES = 30
OVERVIEW_INCIDENT_ROWS = 20
ERROR_WINDOWS = ("7d", "30d")
LIST_ROWS = 200
RUNS_PER_PAGE = 25


def _cursor(request: HttpRequest) -> tuple[selectors.RunCursor | None, str | None]:
    """The keyset cursor from ``?after=``, or an error message naming the parameter."""
    raw = request.GET.get("after")
    if not raw:
        return None, None
    try:
        return selectors.RunCursor.decode(raw), None
    except (ValueError, OverflowError):
        return None, "after: not a page position from this site (expected <microseconds>-<id>)."


def _alert_actions(request: HttpRequest) -> dict[str, bool]:
    """What the firing-alerts table offers this user (operators act, viewers read)."""
    return {
        "can_acknowledge": request.user.has_perm("alerts.acknowledge_alertstate"),
        "can_silence": request.user.has_perm("alerts.add_silence"),
    }


@staff_page
def overview(request: HttpRequest) -> HttpResponse:
    # The incidents alone: their pipelines are on each incident's page (one more read of the
    # view would cost as much again).
    incidents, incidents_total, open_incidents = selectors.first_incidents(
        limit=OVERVIEW_INCIDENT_ROWS
    )
    # Plain rows (dicts), not model instances: the lists can hold thousands of pipelines.
    failing, failing_total = selectors.first_rows_and_count(
        selectors.failing_now(), limit=OVERVIEW_FAILING_ROWS
    )
    health = list(selectors.client_health().values())
    show_all_clients = request.GET.get("clients") == "all"
    firing = firing_alerts()
    days = selectors.failures_per_day(days=30)
    total_failures = sum(day.failures for day in days)
    chart = charts.bar_chart(
        slug="failures-per-day",
        title="Failed and successful runs per day, last 30 days (UTC)",
        summary=(
            f"{total_failures} failed runs in 30 days; "
            f"most in one day: {max((d.failures for d in days), default=0)}."
        ),
        points=[
            charts.Point(
                axis_label=day.bucket_start.strftime("%d %b"),
                title=(
                    f"{day.bucket_start:%Y-%m-%d}: {day.failures} failed, {day.successes} succeeded, "
                    f"failure rate {_percent(day.failure_rate)}"
                ),
                parts=[(day.failures, "bar-failed"), (day.successes, "bar-success")],
            )
            for day in days
        ],
        label_every=7,
    )
    return render(
        request,
        "runs/overview.html",
        {
            "incidents": incidents,
            "incidents_total": incidents_total,
            "open_incidents": open_incidents,
            "failing": failing,
            "failing_total": failing_total,
            "firing_alerts": firing[:OVERVIEW_FIRING_ROWS],
            "firing_total": len(firing),
            **_alert_actions(request),
            "client_tiles": health if show_all_clients else health[:OVERVIEW_CLIENT_TILES],
            "clients_total": len(health),
            "show_all_clients": show_all_clients,
            "platforms": list(selectors.platform_failure_rates("7d")),
            "days": days,
            "chart": chart,
            **selectors.inventory_counts(),
        },
    )


def _weekly_failure_rate_chart(*, slug: str, title: str, weeks: Sequence) -> charts.BarChart:
    """Bars of the failure rate per UTC week, from rows with ``bucket_start``, ``successes``,
    ``failures`` and ``failure_rate`` (the Q4 view's rows or ``selectors.OutcomeCount``)."""
    return charts.bar_chart(
        slug=slug,
        title=title,
        summary="; ".join(
            f"week of {w.bucket_start:%d %b}: {_percent(w.failure_rate)}" for w in weeks
        ),
        points=[
            charts.Point(
                axis_label=w.bucket_start.strftime("%d %b"),
                title=(
                    f"Week of {w.bucket_start:%Y-%m-%d}: {w.failures} failed of "
                    f"{w.successes + w.failures}, failure rate {_percent(w.failure_rate)}"
                ),
                parts=[(w.failure_rate or 0, "bar-failed")],
            )
            for w in weeks
        ],
        max_value=1.0,
        format_value=lambda value: f"{100 * value:.0f} %",
        label_every=2,
    )


@staff_page
def client_detail(request: HttpRequest, slug: str) -> HttpResponse:
    client = get_object_or_404(Client, slug=slug)
    statuses = list(selectors.pipeline_statuses(client))
    strips = selectors.last_runs_by_pipeline([s.pipeline_id for s in statuses])
    weeks = list(selectors.weekly_trend(client))
    chart = _weekly_failure_rate_chart(
        slug="weekly-failure-rate",
        title=f"Failure rate per week, {client.name} (UTC weeks)",
        weeks=weeks,
    )
    return render(
        request,
        "runs/client_detail.html",
        {
            "client": client,
            "rows": [(status, strips.get(status.pipeline_id, [])) for status in statuses],
            "weeks": weeks,
            "chart": chart,
        },
    )


@staff_page
def pipeline_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline.objects.select_related("client"), pk=pk)
    status = selectors.pipeline_status(pipeline)
    after, cursor_error = _cursor(request)
    if cursor_error:
        return render(request, "runs/bad_request.html", {"errors": [cursor_error]}, status=400)
    page = selectors.run_page(
        selectors.explorer_runs().for_pipeline(pipeline), after=after, size=RUNS_PER_PAGE
    )
    recent = selectors.recent_finished_runs(pipeline)
    duration_chart = charts.bar_chart(
        slug="durations",
        title=f"Duration of the last {len(recent)} finished runs",
        summary=(
            "Longest: "
            + _seconds(max((r.duration.total_seconds() for r in recent), default=None))
            + "; newest: "
            + (_seconds(recent[-1].duration.total_seconds()) if recent else "—")
            + "."
        ),
        points=[
            charts.Point(
                axis_label="",
                title=(
                    f"{run.external_run_id} ({run.status}), started {run.started_at:%Y-%m-%d %H:%M} "
                    f"UTC, {_seconds(run.duration.total_seconds())}"
                ),
                parts=[(run.duration.total_seconds(), f"bar-{run.status}")],
            )
            for run in recent
        ],
        format_value=_seconds,
    )
    weeks = selectors.weekly_failure_rate(pipeline)
    rate_chart = _weekly_failure_rate_chart(
        slug="pipeline-failure-rate",
        title="Failure rate per week (UTC weeks)",
        weeks=weeks,
    )
    return render(
        request,
        "runs/pipeline_detail.html",
        {
            "pipeline": pipeline,
            "status": status,
            "page": page,
            "recent": recent,
            "duration_chart": duration_chart,
            "weeks": weeks,
            "rate_chart": rate_chart,
            "rules": list(selectors.rules_covering(pipeline)),
            "firing_alerts": firing_alerts(pipeline=pipeline),
            "incidents": selectors.incidents_of_pipeline(
                pipeline, last_failure_at=status.last_failure_at
            ),
            "pipeline_key": str(pipeline.pk),
            **_alert_actions(request),
        },
    )


@staff_page
def incident_detail(request: HttpRequest, key: str) -> HttpResponse:
    incident = selectors.incidents().filter(incident_key=key).first()
    if incident is None:
        raise Http404("No such incident in the last 7 days.")
    pipelines = selectors.pipelines_of_incident(key)
    return render(
        request,
        "runs/incident_detail.html",
        {"incident": incident, "pipelines": pipelines, "incident_query": urlencode({"key": key})},
    )


@staff_page
def errors(request: HttpRequest) -> HttpResponse:
    rank_by = request.GET.get("rank", ERROR_WINDOWS[0])
    if rank_by not in ERROR_WINDOWS:
        return render(
            request,
            "runs/bad_request.html",
            {"errors": [f"rank: one of {', '.join(ERROR_WINDOWS)}."]},
            status=400,
        )
    signatures, signatures_total = selectors.first_rows_and_count(
        selectors.error_signatures(rank_by), limit=LIST_ROWS
    )
    return render(
        request,
        "runs/errors.html",
        {
            "signatures": signatures,
            "signatures_total": signatures_total,
            "rank_by": rank_by,
            "windows": ERROR_WINDOWS,
            "query": urlencode({"rank": rank_by}),
        },
    )


@staff_page
def run_list(request: HttpRequest) -> HttpResponse:
    filterset = RunExplorerFilter(request.GET or None, queryset=selectors.explorer_runs())
    filterset.form.fields["status"].widget = forms.CheckboxSelectMultiple(
        choices=filterset.form.fields["status"].choices
    )
    # The client list is read here, not by the template that draws the form.
    clients = filterset.form.fields["client"]
    clients.widget.choices = list(clients.choices)
    after, cursor_error = _cursor(request)
    errors = [f"{name}: {' '.join(messages)}" for name, messages in filterset.errors.items()] + (
        [cursor_error] if cursor_error else []
    )
    if errors:
        return render(
            request,
            "runs/run_list.html",
            {"filter": filterset, "errors": errors, "page": None},
            status=400,
        )
    page = selectors.run_page(filterset.qs, after=after, size=RUNS_PER_PAGE)
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "runs/run_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query.urlencode(),
            "is_filtered": bool(query),
            "has_runs": bool(page.runs) or selectors.inventory_counts()["has_runs"],
        },
    )


@staff_page
def flaky(request: HttpRequest) -> HttpResponse:
    # One statement for the lists and the counts; only the rows shown are read whole.
    verdicts = selectors.sections_of(
        selectors.flaky_ranking(), section="verdict", limit=LIST_ROWS, fetch_shown_by_pk=True
    )
    return render(
        request,
        "runs/flaky.html",
        {
            "flaky": verdicts.first_rows("flaky"),
            "flaky_count": verdicts.count("flaky"),
            "stable_count": verdicts.count("stable"),
            "insufficient": verdicts.first_rows("insufficient history"),
            "insufficient_count": verdicts.count("insufficient history"),
            "pipelines_total": verdicts.total,
        },
    )


@staff_page
def changes(request: HttpRequest) -> HttpResponse:
    changed = selectors.sections_of(selectors.what_changed(), section="change", limit=LIST_ROWS)
    return render(
        request,
        "runs/changes.html",
        {
            "newly_failing": changed.first_rows("newly failing"),
            "newly_failing_count": changed.count("newly failing"),
            "recovered": changed.first_rows("recovered"),
            "recovered_count": changed.count("recovered"),
            "slower": changed.first_rows("slower"),
            "slower_count": changed.count("slower"),
            "list_rows": LIST_ROWS,
        },
    )


@staff_page
def freshness(request: HttpRequest) -> HttpResponse:
    problems = selectors.sections_of(
        selectors.freshness_problems(), section="kind", limit=LIST_ROWS
    )
    return render(
        request,
        "runs/freshness.html",
        {
            "stale": problems.first_rows("stale"),
            "stale_count": problems.count("stale"),
            "stuck": problems.first_rows("stuck"),
            "stuck_count": problems.count("stuck"),
            "list_rows": LIST_ROWS,
        },
    )


@staff_page
def governance(request: HttpRequest) -> HttpResponse:
    # Least covered clients first: the first LIST_ROWS of them unless all are asked for.
    show_all_clients = request.GET.get("clients") == "all"
    clients, clients_total = selectors.first_rows_and_count(
        selectors.governance_by_client(), limit=None if show_all_clients else LIST_ROWS
    )
    gaps, gaps_total = selectors.first_rows_and_count(selectors.governance_gaps(), limit=LIST_ROWS)
    return render(
        request,
        "runs/governance.html",
        {
            "clients": clients,
            "clients_total": clients_total,
            "gaps": gaps,
            "gaps_total": gaps_total,
        },
    )


@staff_page
def table_csv(request: HttpRequest, table: str) -> HttpResponse:
    """Every row of one of the pages' tables (web.exports), streamed as CSV."""
    export = exports.TABLES.get(table)
    if export is None:
        raise Http404(f"No table {table!r} to download.")
    try:
        result = export(request.GET)
    except exports.BadParameter as exc:
        return render(request, "runs/bad_request.html", {"errors": [str(exc)]}, status=400)
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    scope = f"-{result.scope}" if result.scope else ""
    return csv_response(result.table, filename=f"chm-{table}{scope}-{stamp}.csv")
