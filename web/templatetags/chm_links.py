"""Links to the detail pages, for tables of hundreds of rows.

``{% url %}`` matches the pattern and its converters again on every call: a quarter of the
time spent rendering the governance page's 700 rows (measured). These filters reverse each
detail page once per URL configuration and script prefix, then put the row's key in place.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()

# Valid for both <int:pk> and <slug:slug>, and part of no CHM path.
_KEY = "9081726354"


@lru_cache(maxsize=64)
def _around_key(name: str, urlconf: str | None, script_prefix: str) -> tuple[str, str]:
    # script_prefix is part of the cache key only: reverse() reads the current one itself.
    before, _, after = reverse(name, args=[_KEY], urlconf=urlconf).rpartition(_KEY)
    return before, after


def _detail_url(name: str, key: object) -> str:
    before, after = _around_key(name, get_urlconf(), get_script_prefix())
    return f"{before}{quote(str(key), safe='')}{after}"


@register.filter
def pipeline_url(pipeline_id: int) -> str:
    """The pipeline page of ``pipeline_id``: the same URL as {% url 'runs:pipeline-detail' %}."""
    return _detail_url("runs:pipeline-detail", pipeline_id)


@register.filter
def client_url(client_slug: str) -> str:
    """The client page of ``client_slug``: the same URL as {% url 'runs:client-detail' %}."""
    return _detail_url("runs:client-detail", client_slug)
