from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html_join

from alerts.models import AlertRule
from alerts.notifications import DeliveryError, send_test_notification


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
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
    search_fields = ["name", "client__slug", "pipeline__slug", "target"]
    autocomplete_fields = ["client", "pipeline"]
    actions = ["send_test_notifications"]
    readonly_fields = [
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

    @admin.action(description="Send a test notification to the selected rules' targets")
    def send_test_notifications(self, request, queryset) -> None:
        for rule in queryset.select_related("client", "pipeline__client").order_by("pk"):
            try:
                send_test_notification(rule)
            except DeliveryError as exc:
                self.message_user(
                    request, f"{rule.name}: not delivered: {exc}", level=messages.ERROR
                )
            else:
                self.message_user(request, f"{rule.name}: test notification sent to {rule.target}")
