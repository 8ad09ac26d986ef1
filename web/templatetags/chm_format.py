"""The formats of common/formats.py as template filters."""

from __future__ import annotations

from django import template

from common import formats

register = template.Library()
register.filter("percent", formats.percent)
register.filter("seconds", formats.seconds)
register.filter("minutes", formats.minutes)
register.filter("to_the_minute", formats.to_the_minute)
