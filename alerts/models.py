from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Q

from alerts import webhooks
from inventory.models import Client, Pipeline


class RuleKind(models.TextChoices):
    CONSECUTIVE_FAILURES = "consecutive_failures", "Consecutive failures ≥ N"
    FAILURE_RATE = "failure_rate", "Failure rate ≥ X % over a window"
    STALE = "stale", "Stale: no success within N minutes"
    LONG_RUNNING = "long_running", "Long running: still running after N minutes"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


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
        help_text="N failures, X percent, or N minutes, depending on the kind."
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

    # Evaluation state lives on the rule (no table of its own). ``firing`` maps a pipeline id
    # (as a string) to what fired there; ``state_version`` is bumped by every transition and by
    # every change to the outbox (``pending_notifications``), so that concurrent evaluators can
    # compare-and-swap and notify each change exactly once (alerts/evaluation.py).
    firing = models.JSONField(default=dict, blank=True, editable=False)
    state_version = models.PositiveBigIntegerField(default=0, editable=False)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_notification = models.JSONField(default=dict, blank=True, editable=False)
    pending_notifications = models.JSONField(default=list, blank=True, editable=False)
    last_delivery_error = models.TextField(blank=True, editable=False)

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
            models.CheckConstraint(condition=~Q(target=""), name="alertrule_target_not_empty"),
            models.CheckConstraint(
                condition=~Q(channel=Channel.WEBHOOK) | Q(target__iregex=r"^https?://"),
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
        if self.kind == RuleKind.FAILURE_RATE:
            if self.threshold and self.threshold > 100:
                errors["threshold"] = "A failure rate is a percentage: at most 100."
            if not self.window_minutes:
                errors["window_minutes"] = "A failure-rate rule needs a window."
            if not self.min_runs:
                errors["min_runs"] = "A failure-rate rule needs a minimum number of runs."
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
            if channel == Channel.WEBHOOK:
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
        if self.channel == Channel.WEBHOOK:
            return webhooks.redact_url(self.target)
        return self.target

    @property
    def scope(self) -> str:
        return "pipeline" if self.pipeline_id else "client"

    @property
    def is_firing(self) -> bool:
        return bool(self.firing)

    @property
    def firing_pipeline_ids(self) -> list[int]:
        return sorted(int(key) for key in self.firing)
