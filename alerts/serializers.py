"""How an alert rule is shown outside the admin: the read API and the pages' downloads."""

from __future__ import annotations

from rest_framework import serializers

from alerts.models import AlertRule


class AlertRuleSerializer(serializers.ModelSerializer):
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pipeline = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    # Annotations of AlertRuleQuerySet.with_state(): the state lives in the alert tables.
    is_firing = serializers.BooleanField(read_only=True)
    last_notified_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = AlertRule
        # The notification target is left out: webhook URLs often carry a secret.
        fields = [
            "id",
            "client",
            "pipeline",
            "name",
            "kind",
            "threshold",
            "window_minutes",
            "min_runs",
            "severity",
            "channel",
            "is_enabled",
            "is_firing",
            "last_evaluated_at",
            "last_notified_at",
        ]
        read_only_fields = fields
