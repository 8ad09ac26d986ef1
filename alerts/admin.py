from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.utils.html import format_html_join

from alerts.models import (
    URL_CHANNELS,
    AlertEvent,
    AlertRule,
    AlertState,
    MaintenanceWindow,
    Notification,
    NotificationStatus,
    Silence,
)
from alerts.notifications import DeliveryError, send_test_notification
from inventory.audit import record_admin_action


class AlertRuleForm(forms.ModelForm):
    """A webhook URL is write-only: its path and query are often the receiver's secret, so
    the form never sends it back to the browser. Left empty, the current one is kept."""

    class Meta:
        model = AlertRule
        fields = "__all__"  # noqa: DJ007 (the admin chooses the fields it shows)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kept_target = ""
        rule = self.instance
        if rule.pk and rule.channel in URL_CHANNELS and "target" in self.fields:
            self.kept_target = rule.target
            self.initial["target"] = ""
            self.fields["target"].required = False
            self.fields["target"].help_text = (
                f"Now {rule.shown_target} (the rest of the URL is not shown). Leave empty to "
                "keep it, or enter the whole new URL; email addresses replace it as usual."
            )

    def clean_target(self) -> str:
        target = self.cleaned_data.get("target", "")
        if not target and self.kept_target and self.data.get("channel") in URL_CHANNELS:
            return self.kept_target
        return target


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = [
        "name",
        "client",
        "pipeline",
        "kind",
        "threshold",
        "severity",
        "channel",
        "is_enabled",
        "firing_state",
        "last_notification_sent",
        "undelivered",
    ]
    list_filter = ["kind", "severity", "channel", "is_enabled", "client"]
    list_select_related = ["client", "pipeline__client"]
    # Not the target: searching it would let anyone who may view rules guess a webhook URL.
    search_fields = ["name", "client__slug", "pipeline__slug"]
    autocomplete_fields = ["client", "pipeline"]
    actions = ["send_test_notifications"]
    readonly_fields = [
        "shown_target",
        "firing_state",
        "last_evaluated_at",
        "last_notification_sent",
        "undelivered",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        # The state is in rows of its own: one subquery each, not one query per listed rule.
        open_alerts = AlertState.objects.open().filter(rule=OuterRef("pk"))
        delivered = Notification.objects.filter(
            rule=OuterRef("pk"), status=NotificationStatus.DELIVERED
        ).order_by("-sent_at", "-pk")
        pending = (
            Notification.objects.filter(rule=OuterRef("pk"), status=NotificationStatus.PENDING)
            .order_by()
            .values("rule")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                firing_labels=ArraySubquery(
                    open_alerts.order_by("subject_label").values("subject_label")
                ),
                last_sent_at=Subquery(delivered.values("sent_at")[:1]),
                last_sent_state=Subquery(delivered.values("state")[:1]),
                last_sent_pipeline=Subquery(
                    delivered.annotate(
                        slug=KeyTextTransform("slug", KeyTextTransform("pipeline", "payload"))
                    ).values("slug")[:1]
                ),
                pending_count=Subquery(pending),
            )
        )

    @admin.display(description="firing")
    def firing_state(self, obj: AlertRule) -> str:
        labels = getattr(obj, "firing_labels", None) or []
        if not labels:
            return "ok"
        return format_html_join(", ", "<strong>FIRING</strong> {}", ((label,) for label in labels))

    @admin.display(description="last notification", ordering="last_sent_at")
    def last_notification_sent(self, obj: AlertRule) -> str:
        sent_at = getattr(obj, "last_sent_at", None)
        if not sent_at:
            return "never"
        return (
            f"{obj.last_sent_state} for {obj.last_sent_pipeline or '?'}, "
            f"{sent_at:%Y-%m-%d %H:%M} UTC"
        )

    @admin.display(description="waiting for delivery")
    def undelivered(self, obj: AlertRule) -> int:
        return getattr(obj, "pending_count", None) or 0

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        # Who may not change the rule sees the redacted target only.
        if not self.has_change_permission(request, obj):
            fields = [field for field in fields if field != "target"]
        return fields

    @admin.display(description="target")
    def shown_target(self, obj: AlertRule) -> str:
        return obj.shown_target

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Only what the form edits: ``last_evaluated_at`` on the loaded copy may be stale by
        # now (an evaluator writes it concurrently), and writing it back would undo it.
        edited = [name for name in form.fields if name in {f.name for f in obj._meta.fields}]
        obj.save(update_fields=[*edited, "updated_at"])

    @admin.action(
        description="Send a test notification to the selected rules' targets",
        permissions=["send_test_notification"],
    )
    def send_test_notifications(self, request, queryset) -> None:
        for rule in queryset.select_related("client", "pipeline__client").order_by("pk"):
            try:
                send_test_notification(rule)
            except DeliveryError as exc:
                outcome = f"not delivered: {exc}"
                self.message_user(request, f"{rule.name}: {outcome}", level=messages.ERROR)
            else:
                outcome = f"sent to {rule.shown_target}"
                self.message_user(request, f"{rule.name}: test notification {outcome}")
            record_admin_action(self, request, rule, f"Test notification {outcome}.")

    def has_send_test_notification_permission(self, request) -> bool:
        return request.user.has_perm("alerts.send_test_notification")


class OperationalRecordAdmin(admin.ModelAdmin):
    """Alert state is written by the evaluation and by the alert pages' actions; the admin
    shows it and never edits it."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertState)
class AlertStateAdmin(OperationalRecordAdmin):
    list_display = [
        "rule",
        "subject_label",
        "fired_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_at",
    ]
    list_filter = ["rule__severity", "rule__client"]
    list_select_related = ["rule", "acknowledged_by"]
    search_fields = ["subject_label", "rule__name"]
    date_hierarchy = "fired_at"


@admin.register(AlertEvent)
class AlertEventAdmin(OperationalRecordAdmin):
    list_display = ["at", "kind", "rule", "subject_label", "actor", "note"]
    list_filter = ["kind"]
    list_select_related = ["rule", "actor"]
    search_fields = ["subject_label", "rule__name"]
    date_hierarchy = "at"


@admin.register(Notification)
class NotificationAdmin(OperationalRecordAdmin):
    list_display = [
        "created_at",
        "rule",
        "subject_label",
        "state",
        "channel",
        "status",
        "attempts",
        "response_code",
        "sent_at",
        "error",
    ]
    list_filter = ["status", "channel", "state"]
    list_select_related = ["rule"]
    search_fields = ["subject_label", "rule__name"]
    date_hierarchy = "created_at"


@admin.register(Silence)
class SilenceAdmin(OperationalRecordAdmin):
    list_display = ["rule", "pipeline", "starts_at", "ends_at", "reason", "created_by"]
    list_select_related = ["rule", "pipeline__client", "created_by"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(OperationalRecordAdmin):
    list_display = ["client", "pipeline", "starts_at", "ends_at", "reason", "created_by"]
    list_select_related = ["client", "pipeline__client", "created_by"]
