"""Template filters of the staff pages' long tables: the same text as Django's own tags."""

from __future__ import annotations

import datetime as dt

from django.template import Context, Template
from django.urls import get_script_prefix, reverse, set_script_prefix
from django.utils import timezone

from runs.templatetags.chm_format import to_the_minute
from runs.templatetags.chm_links import client_url, pipeline_url


def test_detail_links_are_the_urls_reverse_gives():
    assert pipeline_url(42) == reverse("runs:pipeline-detail", args=[42])
    assert pipeline_url(9081726354) == reverse("runs:pipeline-detail", args=[9081726354])
    assert client_url("acme-corp_2") == reverse("runs:client-detail", args=["acme-corp_2"])


def test_detail_links_follow_the_script_prefix_of_the_request():
    before = get_script_prefix()
    set_script_prefix("/chm/")
    try:
        assert pipeline_url(7) == "/chm/pipelines/7/" == reverse("runs:pipeline-detail", args=[7])
        assert client_url("acme") == reverse("runs:client-detail", args=["acme"])
    finally:
        set_script_prefix(before)
    assert pipeline_url(7) == reverse("runs:pipeline-detail", args=[7])


def test_to_the_minute_reads_as_the_date_filter_in_the_current_time_zone():
    moment = dt.datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=dt.UTC)
    date_filter = Template('{{ moment|date:"Y-m-d H:i" }}')
    for zone in ("UTC", "Europe/Paris", "America/St_Johns"):
        with timezone.override(zone):
            assert to_the_minute(moment) == date_filter.render(Context({"moment": moment}))
    assert to_the_minute(None) == ""
