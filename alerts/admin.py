from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

from alerts.models import AlertRule, Channel
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
        if rule.pk and rule.channel == Channel.WEBHOOK and "target" in self.fields:
            self.kept_target = rule.target
            self.initial["target"] = ""
            self.fields["target"].required = False
            self.fields["target"].help_text = (
                f"Now {rule.shown_target} (the rest of the URL is not shown). Leave empty to "
                "keep it, or enter the whole new URL; email addresses replace it as usual."
            )

    def clean_target(self) -> str:
        target = self.cleaned_data.get("target", "")
        if not target and self.kept_target and self.data.get("channel") == Channel.WEBHOOK:
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
        "firing",
        "last_evaluated_at",
        "last_notified_at",
        "last_notification",
        "undelivered",
        "last_delivery_error",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="firing")
    def firing_state(self, obj: AlertRule) -> str:
        if not obj.firing:
            return "ok"
        # The labels were recorded when each pipeline fired: no query per row.
        labels = sorted(entry.get("pipeline", key) for key, entry in obj.firing.items())
        return format_html_join(", ", "<strong>FIRING</strong> {}", ((label,) for label in labels))

    @admin.display(description="last notification", ordering="last_notified_at")
    def last_notification_sent(self, obj: AlertRule) -> str:
        if not obj.last_notified_at:
            return "never"
        last = obj.last_notification
        return (
            f"{last.get('state', '?')} for {last.get('pipeline', '?')}, "
            f"{obj.last_notified_at:%Y-%m-%d %H:%M} UTC"
        )

    @admin.display(description="waiting for delivery")
    def undelivered(self, obj: AlertRule) -> int:
        return len(obj.pending_notifications)

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
        # Only what the form edits: the evaluation state on the loaded copy may be stale by
        # now (an evaluator commits transitions and its outbox concurrently), and writing it
        # back would undo them.
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
