"""The run explorer's one FilterSet: client, pipeline, status, platform and a time range."""

from __future__ import annotations

import django_filters

from inventory.models import Client, Platform
from runs.models import Run, RunStatus


class RunExplorerFilter(django_filters.FilterSet):
    client = django_filters.ModelChoiceFilter(
        field_name="pipeline__client",
        to_field_name="slug",
        queryset=Client.objects.order_by("name"),
        empty_label="All clients",
    )
    pipeline = django_filters.NumberFilter(field_name="pipeline_id", min_value=1)
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    platform = django_filters.ChoiceFilter(
        field_name="pipeline__platform", choices=Platform.choices, empty_label="All platforms"
    )
    started_after = django_filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", label="Started at or after (UTC)"
    )
    started_before = django_filters.IsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", label="Started before (UTC)"
    )

    class Meta:
        model = Run
        fields = ["client", "pipeline", "status", "platform", "started_after", "started_before"]
