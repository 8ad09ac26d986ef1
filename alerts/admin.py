from django.contrib import admin

from alerts.models import AlertRule


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
        "firing_count",
        "last_notified_at",
    ]
    list_filter = ["kind", "severity", "channel", "is_enabled", "client"]
    list_select_related = ["client", "pipeline__client"]
    search_fields = ["name", "client__slug", "pipeline__slug", "target"]
    autocomplete_fields = ["client", "pipeline"]
    readonly_fields = [
        "firing",
        "last_evaluated_at",
        "last_notified_at",
        "last_notification",
        "last_delivery_error",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="firing on")
    def firing_count(self, obj: AlertRule) -> int:
        return len(obj.firing)
