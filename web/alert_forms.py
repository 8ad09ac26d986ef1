"""The alert pages' forms: plain Django forms, posted with CSRF, no JavaScript."""

from __future__ import annotations

import django_filters
from django import forms

from alerts.models import AlertEvent, AlertRule, EventKind
from inventory.models import Client, Pipeline

# A browser's datetime-local input sends "2026-12-05T18:00"; people type "2026-12-05 18:00".
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]


def _when(label: str, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def _pipeline(value: str) -> Pipeline | None:
    """A pipeline named as ``client/pipeline`` (its slugs, as pages show it) or by its id."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        found = Pipeline.objects.filter(pk=int(value)).select_related("client").first()
    elif value.count("/") == 1:
        client_slug, slug = value.split("/")
        found = (
            Pipeline.objects.filter(client__slug=client_slug, slug=slug)
            .select_related("client")
            .first()
        )
    else:
        found = None
    if found is None:
        raise forms.ValidationError("No such pipeline: give client/pipeline (slugs) or its id.")
    return found


# Typed fields rather than drop-downs: a select of every pipeline is unusable at 10,000 of
# them. The alert rows link here with the rule and the pipeline filled in.
class SilenceForm(forms.Form):
    rule = forms.IntegerField(
        label="Rule (id)",
        required=False,
        min_value=1,
        help_text="Empty: every rule covering the pipeline.",
    )
    pipeline = forms.CharField(
        label="Pipeline",
        required=False,
        max_length=401,
        help_text="client/pipeline or its id. Empty: every pipeline the rule covers.",
    )
    until = _when("Silenced until (UTC)")
    reason = forms.CharField(max_length=500, required=False)

    def clean_rule(self) -> AlertRule | None:
        pk = self.cleaned_data.get("rule")
        if pk is None:
            return None
        rule = AlertRule.objects.select_related("client").filter(pk=pk).first()
        if rule is None:
            raise forms.ValidationError(f"No alert rule has the id {pk}.")
        return rule

    def clean_pipeline(self) -> Pipeline | None:
        return _pipeline(self.cleaned_data.get("pipeline", ""))


class MaintenanceForm(forms.Form):
    client = forms.SlugField(
        label="Client (slug)",
        required=False,
        max_length=200,
        help_text="Every pipeline of the client …",
    )
    pipeline = forms.CharField(
        label="Pipeline",
        required=False,
        max_length=401,
        help_text="… or one pipeline: client/pipeline or its id.",
    )
    starts_at = _when("Starts at (UTC)")
    ends_at = _when("Ends at (UTC)")
    reason = forms.CharField(max_length=500, required=False)

    def clean_client(self) -> Client | None:
        slug = self.cleaned_data.get("client", "")
        if not slug:
            return None
        client = Client.objects.filter(slug=slug).first()
        if client is None:
            raise forms.ValidationError(f"No client has the slug {slug!r}.")
        return client

    def clean_pipeline(self) -> Pipeline | None:
        return _pipeline(self.cleaned_data.get("pipeline", ""))


class AlertHistoryFilter(django_filters.FilterSet):
    """The history pages' filters: what happened, and when."""

    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices, label="What")
    since = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", label="At or after (UTC)"
    )
    before = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="lt", label="Before (UTC)"
    )

    class Meta:
        model = AlertEvent
        fields = ["kind", "since", "before"]
