"""How numbers, durations and moments read on the pages, the dashboards and their charts."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def percent(rate: float | None) -> str:
    """0.125 → "12.5 %"; no rate → "—" (there were no success-or-failed runs)."""
    return "—" if rate is None else f"{100 * rate:.1f} %"


def seconds(value: float | dt.timedelta | None) -> str:
    """A duration in the unit a person reads best: s, min or h."""
    if value is None:
        return "—"
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def minutes(value: float | int | None) -> str:
    """A number of minutes, as minutes, hours or days."""
    if value is None:
        return "—"
    return seconds(float(value) * 60) if value < 2880 else f"{value / 1440:.1f} d"


def to_the_minute(value: dt.datetime | None) -> str:
    """A moment to the minute in the current time zone: the date filter's "Y-m-d H:i" as a
    plain strftime (the date filter interprets its format string for every row)."""
    if not value:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
