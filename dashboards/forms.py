"""The dashboards' filters, as Grafana's dashboards have them: clients and a time range.

The query parameters read like Grafana's time picker: ``from`` and ``to`` take ``now``,
``now-<n><unit>`` (units s, m, h, d, w) or a UTC date or moment (``2026-01-31``,
``2026-01-31T08:00``, or with an offset); a date as ``to`` means the end of that day.
``client`` may be repeated; none means every active client, as Grafana's "All".
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from dashboards.selectors import DashboardFilters

DEFAULT_FROM = "now-30d"
DEFAULT_TO = "now"
# The time picker's quick ranges (Grafana's "Last 24 hours" …): (label, from).
QUICK_RANGES = (
    ("Last 24 hours", "now-24h"),
    ("Last 7 days", "now-7d"),
    ("Last 30 days", "now-30d"),
    ("Last 90 days", "now-90d"),
    ("Last year", "now-365d"),
)
_RELATIVE = re.compile(r"now(?:-(\d{1,6})([smhdw]))?")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, *, now: dt.datetime, end_of_day: bool = False) -> dt.datetime:
    """A Grafana-style time (see the module); ValueError for anything else."""
    text = text.strip()
    if match := _RELATIVE.fullmatch(text):
        amount, unit = match.groups()
        return now - dt.timedelta(**{_UNITS[unit]: int(amount)}) if unit else now
    day = parse_date(text)
    if day is not None:
        moment = dt.time.max if end_of_day else dt.time.min
        return dt.datetime.combine(day, moment, tzinfo=dt.UTC)
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(text)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


class MomentField(forms.CharField):
    def __init__(self, *, end_of_day: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_python(self, value: str) -> dt.datetime:
        text = super().to_python(value)
        try:
            return parse_moment(text, now=timezone.now(), end_of_day=self.end_of_day)
        except (ValueError, OverflowError) as exc:
            raise forms.ValidationError(
                "not a time: give now, now-<n><s|m|h|d|w> (now-7d) or a UTC date "
                "(2026-01-31) or moment (2026-01-31T08:00)."
            ) from exc


class DashboardFilterForm(forms.Form):
    client = forms.MultipleChoiceField(required=False, label="Clients (none: all)")

    def __init__(self, data, *, client_options: list[tuple[str, str]]) -> None:
        data = data.copy()
        data.setdefault("from", DEFAULT_FROM)
        data.setdefault("to", DEFAULT_TO)
        super().__init__(data)
        self.fields["client"].choices = client_options
        self.fields["client"].widget.attrs["size"] = min(max(len(client_options), 2), 8)
        # "from" is a Python keyword: the fields are added by name.
        self.fields["from"] = MomentField(label="From (UTC)", initial=DEFAULT_FROM)
        self.fields["to"] = MomentField(label="To (UTC)", end_of_day=True, initial=DEFAULT_TO)

    def clean(self) -> dict:
        cleaned = super().clean()
        if "from" in cleaned and "to" in cleaned and cleaned["from"] >= cleaned["to"]:
            self.add_error("to", "must be later than from.")
        return cleaned

    def filters(self) -> DashboardFilters:
        """The filters of a valid form; no client selected means every option."""
        chosen = self.cleaned_data["client"] or [slug for slug, _ in self.fields["client"].choices]
        return DashboardFilters(
            clients=tuple(chosen),
            time_from=self.cleaned_data["from"],
            time_to=self.cleaned_data["to"],
        )

    def error_messages(self) -> list[str]:
        return [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]
