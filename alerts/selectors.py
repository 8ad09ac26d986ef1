"""Reads of alert state for the staff pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from alerts.models import AlertRule, Severity
from inventory.models import Pipeline

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class FiringAlert:
    """One enabled rule firing for one pipeline."""

    rule: AlertRule
    pipeline_id: int
    pipeline_label: str
    since: dt.datetime
    summary: str


def firing_alerts(*, pipeline: Pipeline | None = None) -> list[FiringAlert]:
    """Enabled rules firing now (for ``pipeline``, or anywhere), most severe and oldest first.

    One query: the firing pipelines and their labels are read from the rules' own state. A
    list, not a QuerySet, since one rule yields a row per pipeline it fires for.
    """
    rules = AlertRule.objects.enabled().exclude(firing={}).select_related("client")
    if pipeline is not None:
        rules = rules.filter(firing__has_key=str(pipeline.pk))
    alerts = [
        FiringAlert(
            rule=rule,
            pipeline_id=int(key),
            pipeline_label=entry.get("pipeline", key),
            since=dt.datetime.fromisoformat(entry["since"]),
            summary=entry.get("summary", ""),
        )
        for rule in rules
        for key, entry in rule.firing.items()
        if pipeline is None or int(key) == pipeline.pk
    ]
    alerts.sort(key=lambda a: (_SEVERITY_ORDER.get(a.rule.severity, 9), a.since, a.rule.pk))
    return alerts
