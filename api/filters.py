"""One FilterSet per API list."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from alerts.models import AlertRule, RuleKind
from inventory.models import Client, Pipeline, Platform
from runs.models import Run, RunStatus


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO-8601 timestamp, converted to UTC before it reaches SQL: PostgreSQL refuses
    offsets beyond ±15:59 that Python parses without complaint."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError("Out of the supported range.", code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ClientFilter(django_filters.FilterSet):
    class Meta:
        model = Client
        fields = ["slug", "is_active"]


class PipelineFilter(django_filters.FilterSet):
    client = django_filters.CharFilter(field_name="client__slug", help_text="Client slug.")
    platform = django_filters.ChoiceFilter(choices=Platform.choices)

    class Meta:
        model = Pipeline
        fields = ["client", "platform", "is_active"]


class RunFilter(django_filters.FilterSet):
    client = django_filters.CharFilter(
        field_name="pipeline__client__slug", help_text="Client slug."
    )
    pipeline = django_filters.CharFilter(field_name="pipeline__slug", help_text="Pipeline slug.")
    pipeline_id = django_filters.NumberFilter(field_name="pipeline_id")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    platform = django_filters.ChoiceFilter(
        field_name="pipeline__platform", choices=Platform.choices
    )
    started_after = UtcIsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", help_text="ISO-8601, inclusive."
    )
    started_before = UtcIsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", help_text="ISO-8601, exclusive."
    )

    class Meta:
        model = Run
        fields = [
            "client",
            "pipeline",
            "pipeline_id",
            "status",
            "platform",
            "started_after",
            "started_before",
        ]


class AlertRuleFilter(django_filters.FilterSet):
    client = django_filters.CharFilter(field_name="client__slug", help_text="Client slug.")
    pipeline = django_filters.CharFilter(field_name="pipeline__slug", help_text="Pipeline slug.")
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices)

    class Meta:
        model = AlertRule
        fields = ["client", "pipeline", "kind", "is_enabled"]
