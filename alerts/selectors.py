"""Reads of alert state for the staff pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, When
from django.utils import timezone

from alerts.models import (
    AlertEvent,
    AlertRule,
    AlertState,
    MaintenanceWindow,
    Notification,
    NotificationStatus,
    Severity,
    Silence,
)
from inventory.models import Client, Pipeline

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class FiringAlert:
    """One enabled rule firing for one subject (a pipeline, or an incident), as the pages show
    it. ``pipeline_label`` names either."""

    alert: AlertState
    rule: AlertRule
    pipeline_id: int | None
    pipeline_label: str
    incident_key: str | None
    since: dt.datetime
    summary: str
    acknowledged_by: str
    acknowledged_at: dt.datetime | None
    silenced_until: dt.datetime | None
    undelivered: bool
    last_delivery_error: str


def _silence_end(now: dt.datetime) -> Subquery:
    """The end of the latest silence covering an alert's rule and pipeline now."""
    covering = (
        Silence.objects.active(now)
        .filter(Q(rule__isnull=True) | Q(rule=OuterRef("rule_id")))
        .filter(Q(pipeline__isnull=True) | Q(pipeline=OuterRef("pipeline_id")))
        .order_by("-ends_at")
        .values("ends_at")
    )
    return Subquery(covering[:1])


def open_alerts(*, now: dt.datetime | None = None) -> QuerySet[AlertState]:
    """Open alerts of enabled rules, with their rule, who acknowledged them, until when they
    are silenced, and whether a notification of theirs waits undelivered: one query."""
    now = now or timezone.now()
    waiting = Notification.objects.filter(
        rule_id=OuterRef("rule_id"), status=NotificationStatus.PENDING
    ).exclude(error="")
    return (
        AlertState.objects.open()
        .filter(rule__is_enabled=True)
        .select_related("rule__client", "acknowledged_by")
        .annotate(
            silenced_until=_silence_end(now),
            undelivered=Exists(waiting),
            last_delivery_error=Subquery(waiting.order_by("-pk").values("error")[:1]),
            severity_order=Case(
                *[When(rule__severity=s, then=order) for s, order in _SEVERITY_ORDER.items()],
                default=9,
                output_field=IntegerField(),
            ),
        )
        .order_by("severity_order", "fired_at", "rule_id", "pk")
    )


def firing_alerts(
    *, pipeline: Pipeline | None = None, now: dt.datetime | None = None
) -> list[FiringAlert]:
    """Enabled rules firing now (for ``pipeline``, or anywhere), most severe and oldest first.

    One query. A list of plain rows, not a QuerySet, for the templates and the CSV export.
    """
    alerts = open_alerts(now=now)
    if pipeline is not None:
        alerts = alerts.filter(pipeline=pipeline)
    return [
        FiringAlert(
            alert=alert,
            rule=alert.rule,
            pipeline_id=alert.pipeline_id,
            pipeline_label=alert.subject_label,
            incident_key=alert.incident_key,
            since=alert.fired_at,
            summary=alert.summary,
            acknowledged_by=alert.acknowledged_by.get_username() if alert.acknowledged_by else "",
            acknowledged_at=alert.acknowledged_at,
            silenced_until=alert.silenced_until,
            undelivered=alert.undelivered,
            last_delivery_error=alert.last_delivery_error or "",
        )
        for alert in alerts
    ]


def history(*, rule: AlertRule | None = None, pipeline: Pipeline | None = None) -> QuerySet:
    """The transitions and actions of a rule or of a pipeline, newest first."""
    # The alert too: an event about an incident links to it by the alert's subject.
    events = AlertEvent.objects.select_related("rule", "actor", "pipeline__client", "alert")
    if rule is not None:
        events = events.filter(rule=rule)
    if pipeline is not None:
        # Its own events, and those of its client's maintenance windows.
        events = events.filter(
            Q(pipeline=pipeline) | Q(client_id=pipeline.client_id, rule__isnull=True)
        )
    return events.order_by("-at", "-pk")


def notifications(
    *, rule: AlertRule | None = None, pipeline: Pipeline | None = None
) -> QuerySet[Notification]:
    """Who was told, and how it went: a rule's or a pipeline's notifications, newest first."""
    rows = Notification.objects.select_related("rule")
    if rule is not None:
        rows = rows.filter(rule=rule)
    if pipeline is not None:
        rows = rows.filter(pipeline=pipeline)
    return rows.order_by("-created_at", "-pk")


def silences(
    *,
    rule: AlertRule | None = None,
    pipeline: Pipeline | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Silence]:
    """Silences in force now or later (of ``rule`` or ``pipeline`` when given)."""
    now = now or timezone.now()
    rows = Silence.objects.filter(ends_at__gt=now).select_related(
        "rule", "pipeline__client", "created_by"
    )
    if rule is not None:
        rows = rows.filter(rule=rule)
    if pipeline is not None:
        rows = rows.filter(pipeline=pipeline)
    return rows.order_by("ends_at", "pk")


def maintenance_windows(
    *,
    client: Client | None = None,
    pipeline: Pipeline | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[MaintenanceWindow]:
    """Maintenance windows in force now or planned (of a client, or covering a pipeline)."""
    now = now or timezone.now()
    rows = MaintenanceWindow.objects.filter(ends_at__gt=now).select_related(
        "client", "pipeline__client", "created_by"
    )
    if client is not None:
        rows = rows.filter(client=client)
    if pipeline is not None:
        rows = rows.filter(Q(pipeline=pipeline) | Q(client_id=pipeline.client_id))
    return rows.order_by("starts_at", "pk")
