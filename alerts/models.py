from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery

from alerts import webhooks
from alerts.kinds import KINDS, incident_of
from inventory.models import Client, Pipeline

# The kinds' names and labels come from their one definition (alerts/kinds.py).
RuleKind = models.TextChoices(
    "RuleKind", [(value.upper(), (value, kind.label)) for value, kind in KINDS.items()]
)


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"
    SLACK = "slack", "Slack"


# Channels whose target is a URL that CHM posts to.
URL_CHANNELS = (Channel.WEBHOOK, Channel.SLACK)


# Webhooks leave CHM over plain HTTP(S) only: no file://, ftp:// or other schemes.
validate_webhook_url = URLValidator(
    schemes=["http", "https"], message="A webhook target must be an http:// or https:// URL."
)


def email_recipients(target: str) -> list[str]:
    """The addresses of a comma-separated email target, each validated."""
    recipients = [address.strip() for address in target.split(",") if address.strip()]
    if not recipients:
        raise ValidationError("Give at least one email address.")
    for address in recipients:
        validate_email(address)
    return recipients


class AlertRuleQuerySet(models.QuerySet):
    def enabled(self) -> AlertRuleQuerySet:
        return self.filter(is_enabled=True)

    def covering(self, pipeline: Pipeline) -> AlertRuleQuerySet:
        """Rules that apply to ``pipeline``: its own, and its client's client-wide ones."""
        return self.filter(client_id=pipeline.client_id).filter(
            Q(pipeline__isnull=True) | Q(pipeline=pipeline)
        )

    def with_state(self, pipeline: Pipeline | None = None) -> AlertRuleQuerySet:
        """Annotated with ``is_firing`` (an open alert, for ``pipeline`` or anywhere) and
        ``last_notified_at`` (its latest delivered notification)."""
        open_alerts = AlertState.objects.open().filter(rule=OuterRef("pk"))
        if pipeline is not None:
            open_alerts = open_alerts.filter(pipeline=pipeline)
        delivered = Notification.objects.filter(
            rule=OuterRef("pk"), status=NotificationStatus.DELIVERED
        ).order_by("-sent_at")
        return self.annotate(
            is_firing=Exists(open_alerts),
            last_notified_at=Subquery(delivered.values("sent_at")[:1]),
        )


class AlertRule(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alert_rules")
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Empty: the rule covers every active pipeline of the client.",
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    threshold = models.PositiveIntegerField(
        help_text="N failures, X percent, N minutes or N pipelines, depending on the kind."
    )
    window_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Failure rate only: the window looked back over."
    )
    min_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Failure rate only: fewest finished runs in the window."
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    target = models.CharField(
        max_length=500, help_text="Email address(es), comma separated, or the webhook URL."
    )
    is_enabled = models.BooleanField(default=True)

    # What fires, for whom, and who was told are rows of their own (AlertState, AlertEvent,
    # Notification below); the rule keeps only when it was last looked at.
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlertRuleQuerySet.as_manager()

    class Meta:
        ordering = ["client__slug", "name"]
        permissions = [
            ("send_test_notification", "Can send a test notification to a rule's target")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=RuleKind.values), name="alertrule_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="alertrule_severity_known"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="alertrule_channel_known"
            ),
            models.CheckConstraint(
                condition=Q(threshold__gt=0), name="alertrule_threshold_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind=RuleKind.FAILURE_RATE) | Q(threshold__lte=100),
                name="alertrule_rate_at_most_100",
            ),
            models.CheckConstraint(
                condition=~Q(kind=RuleKind.FAILURE_RATE)
                | Q(
                    window_minutes__isnull=False,
                    min_runs__isnull=False,
                    window_minutes__gt=0,
                    min_runs__gt=0,
                ),
                name="alertrule_rate_has_window",
            ),
            models.CheckConstraint(
                condition=~Q(kind=RuleKind.INCIDENT) | Q(threshold__gte=2),
                name="alertrule_incident_at_least_2",
            ),
            models.CheckConstraint(condition=~Q(target=""), name="alertrule_target_not_empty"),
            models.CheckConstraint(
                condition=~Q(channel__in=URL_CHANNELS) | Q(target__iregex=r"^https?://"),
                name="alertrule_webhook_http",
            ),
        ]
        # The composite foreign key (pipeline_id, client_id) that refuses a rule whose pipeline
        # belongs to another client is added in migration 0002 (Django has no composite FKs).

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.pipeline_id and self.client_id and self.pipeline.client_id != self.client_id:
            errors["pipeline"] = "This pipeline belongs to another client."
        if self.kind in KINDS:
            errors.update(
                KINDS[self.kind].errors(
                    threshold=self.threshold,
                    window_minutes=self.window_minutes,
                    min_runs=self.min_runs,
                )
            )
        if self.channel in Channel.values and self.target:
            target_errors = self.target_errors(self.channel, self.target)
            if target_errors:
                errors["target"] = target_errors
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def target_errors(channel: str, target: str) -> list[str]:
        """What is wrong with ``target`` for ``channel``; an empty list when nothing is."""
        try:
            if channel in URL_CHANNELS:
                validate_webhook_url(target)
                # Checked again on every request: the host may resolve elsewhere by then.
                refusal = webhooks.target_error(target)
                if refusal:
                    return [f"Refused webhook target: {refusal}."]
            else:
                email_recipients(target)
        except ValidationError as exc:
            return exc.messages
        return []

    def applies_to(self, pipeline: Pipeline) -> bool:
        return pipeline.client_id == self.client_id and self.pipeline_id in (None, pipeline.pk)

    @property
    def shown_target(self) -> str:
        """The target as it may be shown or logged: a webhook URL without its path and query,
        which often hold the receiver's secret."""
        if self.channel in URL_CHANNELS:
            return webhooks.redact_url(self.target)
        return self.target

    @property
    def scope(self) -> str:
        return "pipeline" if self.pipeline_id else "client"

    @property
    def condition(self) -> str:
        """The rule's condition in words ("3 failures in a row"), from its kind's definition."""
        return KINDS[self.kind].describe(self)

    @property
    def firing_pipeline_ids(self) -> list[int]:
        """The pipelines this rule fires for now (one query)."""
        return sorted(
            AlertState.objects.open()
            .filter(rule=self, pipeline__isnull=False)
            .values_list("pipeline_id", flat=True)
        )


# Alert state: operational records, written by the evaluation (alerts/evaluation.py), the
# delivery (alerts/notifications.py) and the staff actions (alerts/actions.py), and shown
# read-only in the admin. A subject is what one alert is about: a pipeline ("pipeline:<id>",
# with ``pipeline`` set), or for the incident kind an incident spanning pipelines
# ("incident:<key>", ``pipeline`` empty).


class AlertStateQuerySet(models.QuerySet):
    def open(self) -> AlertStateQuerySet:
        return self.filter(resolved_at__isnull=True)


class AlertState(models.Model):
    """One alert: a rule firing for one subject, from when it fired until it resolved. At
    most one open (unresolved) row per (rule, subject): the database refuses a second."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # Kept (emptied) when the pipeline is deleted: the history still names it by its label.
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    subject_key = models.CharField(max_length=200)
    subject_label = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    run_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    fired_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When its latest notification was queued: reminders count from here.
    last_notified_at = models.DateTimeField(null=True, blank=True)

    objects = AlertStateQuerySet.as_manager()

    class Meta:
        ordering = ["-fired_at", "-pk"]
        permissions = [("acknowledge_alertstate", "Can acknowledge a firing alert")]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=Q(resolved_at__isnull=True),
                name="alertstate_one_open_per_subject",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("fired_at")),
                name="alertstate_resolved_after_fired",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pipeline"],
                condition=Q(resolved_at__isnull=True),
                name="alertstate_open_by_pipeline",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} — {self.subject_label}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def incident_key(self) -> str | None:
        """The incident this alert is about (``incident:<key>`` subjects), else None."""
        return incident_of(self.subject_key)


class EventKind(models.TextChoices):
    FIRED = "fired", "Fired"
    RESOLVED = "resolved", "Resolved"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    REMINDED = "reminded", "Reminder queued"
    SILENCED = "silenced", "Silenced"
    SILENCE_ENDED = "silence_ended", "Silence ended"
    MAINTENANCE = "maintenance", "Maintenance scheduled"
    MAINTENANCE_ENDED = "maintenance_ended", "Maintenance ended"


class AlertEvent(models.Model):
    """The history: every transition of an alert, and every staff action on alerts."""

    alert = models.ForeignKey(
        AlertState, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_events"
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.SET_NULL, null=True, blank=True, related_name="alert_events"
    )
    subject_label = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values), name="alertevent_kind_known"
            ),
        ]
        indexes = [
            models.Index(fields=["rule", "-at"], name="alertevent_rule_at"),
            models.Index(fields=["pipeline", "-at"], name="alertevent_pipeline_at"),
            models.Index(fields=["-at"], name="alertevent_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject_label} at {self.at:%Y-%m-%d %H:%M}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for delivery"
    DELIVERED = "delivered", "Delivered"
    SUPPRESSED = "suppressed", "Not sent (silenced)"
    DROPPED = "dropped", "Dropped (too many undelivered)"


class Notification(models.Model):
    """One notification and its delivery: the outbox while pending, the record after."""

    alert = models.ForeignKey(
        AlertState, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="notifications")
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alert_notifications",
    )
    subject_label = models.CharField(max_length=300, blank=True)
    # What it says: firing, resolved, or a reminder that it still fires.
    state = models.CharField(max_length=16)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # A claimed notification is not sent by anybody else until then.
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values),
                name="notification_status_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["rule", "id"],
                condition=Q(status="pending"),
                name="notification_pending",
            ),
            models.Index(fields=["alert"], name="notification_alert"),
        ]

    def __str__(self) -> str:
        return f"{self.state} {self.subject_label} ({self.get_status_display()})"


class WindowQuerySet(models.QuerySet):
    def active(self, at: dt.datetime) -> WindowQuerySet:
        return self.filter(starts_at__lte=at, ends_at__gt=at)


class Silence(models.Model):
    """No notifications for a rule, a pipeline, or one rule on one pipeline, until
    ``ends_at``. Alerts still fire, resolve and show (marked as silenced)."""

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="silences"
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, null=True, blank=True, related_name="silences"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()

    objects = WindowQuerySet.as_manager()

    class Meta:
        ordering = ["-ends_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rule__isnull=False) | Q(pipeline__isnull=False),
                name="silence_has_a_subject",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["ends_at"], name="silence_ends_at")]

    def __str__(self) -> str:
        return f"silence until {self.ends_at:%Y-%m-%d %H:%M}"

    def covers(self, *, rule_id: int, pipeline_id: int | None) -> bool:
        return (self.rule_id is None or self.rule_id == rule_id) and (
            self.pipeline_id is None or self.pipeline_id == pipeline_id
        )


class MaintenanceWindow(models.Model):
    """Planned downtime of a client or a pipeline: runs are still ingested, but no alert
    fires (or resolves) for its pipelines between ``starts_at`` and ``ends_at``."""

    client = models.ForeignKey(
        Client,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_windows",
    )
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_windows",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()

    objects = WindowQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(client__isnull=False, pipeline__isnull=True)
                | Q(client__isnull=True, pipeline__isnull=False),
                name="maintenance_client_or_pipeline",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="maintenance_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["ends_at"], name="maintenance_ends_at")]

    def __str__(self) -> str:
        scope = self.pipeline or self.client
        return f"maintenance of {scope}, {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"
