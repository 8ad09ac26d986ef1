"""An error message as its failure signature reads it (runs/signatures.py): what an incident or
an error signature is about, without the ids, times and hosts of one occurrence."""

from __future__ import annotations

from django import template

from runs.signatures import normalise_error

register = template.Library()


@register.filter
def error_summary(message: str | None) -> str:
    return normalise_error(message) if message and not message.isspace() else ""
