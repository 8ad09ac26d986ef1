"""The pages' tables as CSV downloads: one entry per table, each reading what its page reads
(the same selectors), every row rather than the first ones the page shows.

Each entry takes the request's query parameters and answers a ``CsvTable``, or raises
``BadParameter`` naming the parameter that cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import QueryDict

from alerts import selectors as alert_selectors
from alerts.models import AlertRule
from alerts.serializers import AlertRuleSerializer
from common.csv_export import CsvTable, queryset_table
from inventory.models import Client, Pipeline
from web import selectors
from web.alert_forms import AlertHistoryFilter
from web.filters import RunExplorerFilter


class BadParameter(ValueError):
    """A query parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Export:
    table: CsvTable
    # What the file is called after, besides the table: the client's slug, the pipeline's id.
    scope: str = ""


# The download's column → the run's field: the columns the read API names the same way.
RUN_COLUMNS = {
    "id": "id",
    "client": "pipeline__client__slug",
    "pipeline": "pipeline__slug",
    "pipeline_id": "pipeline_id",
    "external_run_id": "external_run_id",
    "status": "status",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "duration_seconds": "duration",
    "error_message": "error_message",
}
OUTCOME_HEADER = ("bucket_start", "successes", "failures", "failure_rate")


def _client(query: QueryDict) -> Client:
    slug = query.get("client", "")
    client = Client.objects.filter(slug=slug).first() if slug else None
    if client is None:
        raise BadParameter("client: give the slug of an existing client.")
    return client


def _pipeline(query: QueryDict) -> Pipeline:
    raw = query.get("pipeline", "")
    pipeline = Pipeline.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if pipeline is None:
        raise BadParameter("pipeline: give the id of an existing pipeline.")
    return pipeline


def _outcome_rows(counts: list[selectors.OutcomeCount]) -> CsvTable:
    return CsvTable(
        OUTCOME_HEADER,
        [(c.bucket_start, c.successes, c.failures, c.failure_rate) for c in counts],
    )


def runs(query: QueryDict) -> Export:
    """The run explorer, with its filters; newest first, like the page."""
    query = query.copy()
    query.pop("after", None)
    filterset = RunExplorerFilter(query, queryset=selectors.explorer_runs())
    if not filterset.is_valid():
        raise BadParameter(
            "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        )
    return Export(
        queryset_table(
            filterset.qs.newest_first(), RUN_COLUMNS.values(), header=RUN_COLUMNS.keys()
        ),
        scope=query.get("client", "") or query.get("pipeline", ""),
    )


def failures_per_day(query: QueryDict) -> Export:
    return Export(_outcome_rows(selectors.failures_per_day(days=30)))


def client_pipelines(query: QueryDict) -> Export:
    client = _client(query)
    return Export(queryset_table(selectors.pipeline_statuses(client)), scope=client.slug)


def client_weekly_trend(query: QueryDict) -> Export:
    client = _client(query)
    return Export(queryset_table(selectors.weekly_trend(client)), scope=client.slug)


def pipeline_failure_rate(query: QueryDict) -> Export:
    pipeline = _pipeline(query)
    return Export(_outcome_rows(selectors.weekly_failure_rate(pipeline)), scope=str(pipeline.pk))


def pipeline_alert_rules(query: QueryDict) -> Export:
    """The rules covering a pipeline (a handful) as the read API shows rules: their
    definition and state, never the notification target."""
    pipeline = _pipeline(query)
    serializer = AlertRuleSerializer(
        selectors.rules_covering(pipeline).select_related("client"), many=True
    )
    header = tuple(serializer.child.fields)
    rows = [[rule[name] for name in header] for rule in serializer.data]
    return Export(CsvTable(header, rows), scope=str(pipeline.pk))


def incident_pipelines(query: QueryDict) -> Export:
    """The pipelines of one incident (``key``), or of every incident."""
    rows = selectors.incident_pipeline_rows()
    key = query.get("key", "")
    if key:
        rows = rows.filter(incident_key=key)
        if not rows.exists():
            raise BadParameter("key: give the key of an incident of the last 7 days.")
    return Export(queryset_table(rows))


def error_signatures(query: QueryDict) -> Export:
    rank_by = query.get("rank", "7d")
    if rank_by not in ("7d", "30d"):
        raise BadParameter("rank: one of 7d, 30d.")
    return Export(queryset_table(selectors.error_signatures(rank_by)), scope=rank_by)


FIRING_ALERT_HEADER = (
    "alert_id", "severity", "rule_id", "rule", "client", "pipeline_id", "pipeline", "summary",
    "firing_since", "acknowledged_by", "acknowledged_at", "silenced_until", "undelivered",
    "incident_key",
)  # fmt: skip


def firing_alerts(query: QueryDict) -> Export:
    """The firing alerts, as the overview and the alerts page list them (of one pipeline
    with ``pipeline``)."""
    pipeline = _pipeline(query) if query.get("pipeline") else None
    rows = [
        (
            a.alert.pk,
            a.rule.severity,
            a.rule.pk,
            a.rule.name,
            a.rule.client.slug,
            a.pipeline_id,
            a.pipeline_label,
            a.summary,
            a.since,
            a.acknowledged_by,
            a.acknowledged_at,
            a.silenced_until,
            a.undelivered,
            a.incident_key or "",
        )  # fmt: skip
        for a in alert_selectors.firing_alerts(pipeline=pipeline)
    ]
    return Export(CsvTable(FIRING_ALERT_HEADER, rows), scope=str(pipeline.pk) if pipeline else "")


HISTORY_COLUMNS = {
    "id": "id",
    "at": "at",
    "kind": "kind",
    "rule_id": "rule_id",
    "rule": "rule__name",
    "client": "client__slug",
    "pipeline_id": "pipeline_id",
    "subject": "subject_label",
    "alert_id": "alert_id",
    "subject_key": "alert__subject_key",
    "actor": "actor__username",
    "note": "note",
}


def alert_history(query: QueryDict) -> Export:
    """A rule's (``rule``) or a pipeline's (``pipeline``) alert history, with the history
    page's filters; newest first."""
    rule = pipeline = None
    if query.get("rule"):
        raw = query["rule"]
        rule = AlertRule.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
        if rule is None:
            raise BadParameter("rule: give the id of an existing alert rule.")
    elif query.get("pipeline"):
        pipeline = _pipeline(query)
    else:
        raise BadParameter("rule or pipeline: give the id of the rule or of the pipeline.")
    filterset = AlertHistoryFilter(
        query, queryset=alert_selectors.history(rule=rule, pipeline=pipeline)
    )
    if not filterset.is_valid():
        raise BadParameter(
            "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        )
    return Export(
        queryset_table(filterset.qs, HISTORY_COLUMNS.values(), header=HISTORY_COLUMNS.keys()),
        scope=f"rule-{rule.pk}" if rule else f"pipeline-{pipeline.pk}",
    )


def _whole(selector: Callable[[], object], **filters: str) -> Callable[[QueryDict], Export]:
    """A table that every row of ``selector()`` fills, or those matching ``filters``."""

    def export(query: QueryDict) -> Export:
        return Export(queryset_table(selector().filter(**filters)))

    return export


TABLES: dict[str, Callable[[QueryDict], Export]] = {
    # Overview and the incident and errors pages
    "incidents": _whole(selectors.incidents),
    "incident-pipelines": incident_pipelines,
    "error-signatures": error_signatures,
    "failing-now": _whole(selectors.failing_now),
    "client-health": _whole(selectors.client_health),
    "failures-per-day": failures_per_day,
    "platforms": _whole(selectors.platform_failure_rates),
    # Client and pipeline pages
    "client-pipelines": client_pipelines,
    "client-weekly-trend": client_weekly_trend,
    "pipeline-failure-rate": pipeline_failure_rate,
    "pipeline-alert-rules": pipeline_alert_rules,
    # Alerts: what fires now, and the history of a rule or a pipeline
    "firing-alerts": firing_alerts,
    "alert-history": alert_history,
    # Run explorer, and a pipeline's run history (the explorer filtered to it)
    "runs": runs,
    # Flaky, what changed, freshness, governance: one download per section of the page
    "flaky": _whole(selectors.flaky_ranking, verdict="flaky"),
    "flaky-insufficient-history": _whole(selectors.flaky_ranking, verdict="insufficient history"),
    "changes-newly-failing": _whole(selectors.what_changed, change="newly failing"),
    "changes-recovered": _whole(selectors.what_changed, change="recovered"),
    "changes-slower": _whole(selectors.what_changed, change="slower"),
    "freshness-stale": _whole(selectors.freshness_problems, kind="stale"),
    "freshness-stuck": _whole(selectors.freshness_problems, kind="stuck"),
    "governance-clients": _whole(selectors.governance_by_client),
    "governance-gaps": _whole(selectors.governance_gaps),
}
