"""What staff do about alerts: acknowledge one, silence a rule or a pipeline, plan a
maintenance window, and end a silence or a window early. Each is one function; the pages
(web/alert_views.py) call them, and each records itself in the alert history.

Acknowledging is a conditional update of the alert's row: of two people who press the button
at once, one acknowledges and the other is told who did.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Least

from alerts.models import (
    AlertEvent,
    AlertRule,
    AlertState,
    EventKind,
    MaintenanceWindow,
    Silence,
)
from inventory.models import Client, Pipeline

# Longer than this is not a silence but a disabled rule: say so by disabling it.
MAX_SILENCE = dt.timedelta(days=90)
MAX_MAINTENANCE = dt.timedelta(days=90)


class ActionRefused(ValueError):
    """The action cannot be done; the message says why (and names the field, if one)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ActionRefused):
    """What the action is about does not exist."""


def _utc(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def acknowledge(*, alert_id: int, user: AbstractBaseUser, at: dt.datetime) -> AlertState:
    """Mark an open alert as acknowledged by ``user``: no more reminders for it."""
    with transaction.atomic():
        changed = AlertState.objects.filter(
            pk=alert_id, resolved_at__isnull=True, acknowledged_at__isnull=True
        ).update(acknowledged_by=user, acknowledged_at=at)
        alert = AlertState.objects.select_related("rule", "acknowledged_by").filter(pk=alert_id)
        alert = alert.first()
        if alert is None:
            raise NotFound("This alert does not exist.")
        if not changed:
            if alert.resolved_at is not None:
                raise ActionRefused(f"This alert resolved at {_utc(alert.resolved_at)}.")
            who = alert.acknowledged_by.get_username() if alert.acknowledged_by else "someone"
            raise ActionRefused(f"Already acknowledged by {who} at {_utc(alert.acknowledged_at)}.")
        AlertEvent.objects.create(
            alert=alert,
            rule=alert.rule,
            client_id=alert.rule.client_id,
            pipeline_id=alert.pipeline_id,
            subject_label=alert.subject_label,
            kind=EventKind.ACKNOWLEDGED,
            at=at,
            actor=user,
        )
    return alert


def silence(
    *,
    rule: AlertRule | None,
    pipeline: Pipeline | None,
    until: dt.datetime,
    reason: str,
    user: AbstractBaseUser,
    at: dt.datetime,
) -> Silence:
    """No notifications for ``rule``, ``pipeline``, or the rule on the pipeline, until
    ``until``. Alerts still fire, resolve and show, marked as silenced."""
    if rule is None and pipeline is None:
        raise ActionRefused("Choose a rule, a pipeline, or both.", field="rule")
    if rule is not None and pipeline is not None and not rule.applies_to(pipeline):
        raise ActionRefused("This rule does not cover this pipeline.", field="pipeline")
    if until <= at:
        raise ActionRefused("A silence must end in the future.", field="until")
    if until - at > MAX_SILENCE:
        raise ActionRefused(
            f"A silence lasts at most {MAX_SILENCE.days} days; disable the rule instead.",
            field="until",
        )
    with transaction.atomic():
        created = Silence.objects.create(
            rule=rule,
            pipeline=pipeline,
            starts_at=at,
            ends_at=until,
            reason=reason,
            created_by=user,
            created_at=at,
        )
        AlertEvent.objects.create(
            rule=rule,
            client_id=(rule or pipeline).client_id,
            pipeline=pipeline,
            subject_label=str(pipeline) if pipeline else "every pipeline",
            kind=EventKind.SILENCED,
            at=at,
            actor=user,
            note=f"until {_utc(until)}" + (f": {reason}" if reason else ""),
        )
    return created


def end_silence(*, silence_id: int, user: AbstractBaseUser, at: dt.datetime) -> Silence:
    with transaction.atomic():
        # Ends now only a silence still in force or planned: ending it twice changes nothing.
        changed = Silence.objects.filter(pk=silence_id, ends_at__gt=at).update(
            ends_at=at, starts_at=_earliest(at)
        )
        ended = Silence.objects.select_related("rule", "pipeline").filter(pk=silence_id).first()
        if ended is None:
            raise NotFound("This silence does not exist.")
        if not changed:
            raise ActionRefused(f"This silence ended at {_utc(ended.ends_at)}.")
        AlertEvent.objects.create(
            rule=ended.rule,
            client_id=(ended.rule or ended.pipeline).client_id,
            pipeline=ended.pipeline,
            subject_label=str(ended.pipeline) if ended.pipeline else "every pipeline",
            kind=EventKind.SILENCE_ENDED,
            at=at,
            actor=user,
        )
    return ended


def _earliest(at: dt.datetime) -> Least:
    # A silence or window planned for later and ended now keeps starts_at < ends_at.
    return Least(F("starts_at"), at - dt.timedelta(microseconds=1))


def schedule_maintenance(
    *,
    client: Client | None,
    pipeline: Pipeline | None,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    user: AbstractBaseUser,
    at: dt.datetime,
) -> MaintenanceWindow:
    """Plan downtime for a client's pipelines or one pipeline: between ``starts_at`` and
    ``ends_at`` runs are still ingested, and no alert fires or resolves for them."""
    if (client is None) == (pipeline is None):
        raise ActionRefused("Choose a client or a pipeline (one of them).", field="client")
    if ends_at <= starts_at:
        raise ActionRefused("A window ends after it starts.", field="ends_at")
    if ends_at <= at:
        raise ActionRefused("A window must end in the future.", field="ends_at")
    if ends_at - starts_at > MAX_MAINTENANCE:
        raise ActionRefused(
            f"A window lasts at most {MAX_MAINTENANCE.days} days; deactivate the pipeline instead.",
            field="ends_at",
        )
    with transaction.atomic():
        window = MaintenanceWindow.objects.create(
            client=client,
            pipeline=pipeline,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=user,
            created_at=at,
        )
        AlertEvent.objects.create(
            client_id=client.pk if client else pipeline.client_id,
            pipeline=pipeline,
            subject_label=str(pipeline) if pipeline else f"every pipeline of {client.slug}",
            kind=EventKind.MAINTENANCE,
            at=at,
            actor=user,
            note=f"{_utc(starts_at)} – {_utc(ends_at)}" + (f": {reason}" if reason else ""),
        )
    return window


def end_maintenance(
    *, window_id: int, user: AbstractBaseUser, at: dt.datetime
) -> MaintenanceWindow:
    with transaction.atomic():
        changed = MaintenanceWindow.objects.filter(pk=window_id, ends_at__gt=at).update(
            ends_at=at, starts_at=_earliest(at)
        )
        window = (
            MaintenanceWindow.objects.select_related("client", "pipeline")
            .filter(pk=window_id)
            .first()
        )
        if window is None:
            raise NotFound("This maintenance window does not exist.")
        if not changed:
            raise ActionRefused(f"This window ended at {_utc(window.ends_at)}.")
        AlertEvent.objects.create(
            client_id=window.client_id or window.pipeline.client_id,
            pipeline=window.pipeline,
            subject_label=(
                str(window.pipeline)
                if window.pipeline
                else f"every pipeline of {window.client.slug}"
            ),
            kind=EventKind.MAINTENANCE_ENDED,
            at=at,
            actor=user,
        )
    return window
