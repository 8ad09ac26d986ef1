"""``{% firing_alerts %}``: the firing-alerts section that the overview and pipeline pages show."""

from __future__ import annotations

from django import template

from alerts import selectors
from inventory.models import Pipeline

register = template.Library()

# The overview lists this many; the count in the heading is the full number.
SHOWN_ON_OVERVIEW = 50


# A tag rather than view context: the overview and pipeline pages include the section with one
# line and need not know how alert state is stored.
@register.inclusion_tag("alerts/_firing_alerts.html")
def firing_alerts(pipeline: Pipeline | None = None) -> dict:
    alerts = selectors.firing_alerts(pipeline=pipeline)
    return {
        "alerts": alerts if pipeline is not None else alerts[:SHOWN_ON_OVERVIEW],
        "total": len(alerts),
        "pipeline": pipeline,
    }
