"""The two catalog dashboards drawn by CHM, their panels' CSV, and the Metabase embeds.

CHM renders "CHM Q1–Q5 Business Monitoring" and "CHM Q6–Q10 Operations & Governance" from
dashboards/catalog.py, the panels Grafana and Metabase are built from, with Grafana's client
and time-range filters. Once Metabase is configured, its signed embed shows beside those
panels or instead of them (METABASE_EMBED_MODE).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from common.csv_export import CsvTable, csv_response
from dashboards.catalog import DASHBOARDS, DASHBOARDS_BY_KEY, Dashboard
from dashboards.embedding import (
    embedded_dashboard,
    embedding_config,
    missing_embedding_settings,
)
from dashboards.forms import QUICK_RANGES, DashboardFilterForm
from dashboards.rendering import panel_view
from dashboards.selectors import client_options, panel_data, panel_rows, reporting_alias
from runs.permissions import staff_page

logger = logging.getLogger(__name__)

# Rows a table panel shows; its CSV holds every row.
TABLE_ROWS = 500


def _dashboard(key: str) -> Dashboard:
    dashboard = DASHBOARDS_BY_KEY.get(key)
    if dashboard is None:
        raise Http404(f"No dashboard {key!r}.")
    return dashboard


def _grafana_url(dashboard: Dashboard, form: DashboardFilterForm) -> str:
    """The same dashboard in Grafana with the same filters (relative times stay relative)."""
    if not settings.GRAFANA_URL:
        return ""
    query = [("var-client", slug) for slug in form.cleaned_data["client"]]
    for name in ("from", "to"):
        raw = form.data.get(name, "").strip()
        moment = form.cleaned_data[name]
        query.append((name, raw if raw.startswith("now") else str(int(moment.timestamp() * 1000))))
    return f"{settings.GRAFANA_URL}/d/{dashboard.uid}?{urlencode(query)}"


def _filter_form(request: HttpRequest) -> tuple[DashboardFilterForm, str]:
    """The filters, and why they cannot be read when the client list (a query as the
    reporting role, like every panel) fails."""
    try:
        options = client_options(alias=reporting_alias())
    except DatabaseError as exc:
        logger.exception("The dashboards' client list failed")
        return DashboardFilterForm(request.GET, client_options=[]), f"{exc}"
    return DashboardFilterForm(request.GET, client_options=options), ""


@staff_page
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboards/index.html",
        {
            "dashboards": DASHBOARDS,
            "missing_settings": missing_embedding_settings(),
            "embed_mode": settings.METABASE_EMBED_MODE,
            "grafana_url": settings.GRAFANA_URL,
        },
    )


# never_cache: the page can carry a short-lived signed token that must not be served from a cache.
@never_cache
@staff_page
def dashboard_page(request: HttpRequest, key: str) -> HttpResponse:
    dashboard = _dashboard(key)
    form, unavailable = _filter_form(request)
    context = {"dashboard": dashboard, "form": form, "quick_ranges": QUICK_RANGES}
    if unavailable:
        context["errors"] = [f"The dashboards cannot read the reporting views: {unavailable}"]
        return render(request, "dashboards/dashboard.html", context, status=503)
    if not form.is_valid():
        context["errors"] = form.error_messages()
        return render(request, "dashboards/dashboard.html", context, status=400)

    selected = form.cleaned_data["client"]
    config = embedding_config()
    embed = None
    if config and len(selected) <= 1:
        embed = embedded_dashboard(config, key, client_slug=selected[0] if selected else None)
    draw_panels = not (config and settings.METABASE_EMBED_MODE == "instead")
    alias = reporting_alias()
    filters = form.filters()
    panels = [
        panel_view(panel, panel_data(panel, filters, alias=alias, limit=TABLE_ROWS))
        for panel in dashboard.panels
        if draw_panels
    ]
    return render(
        request,
        "dashboards/dashboard.html",
        context
        | {
            "panels": panels,
            "query": request.GET.urlencode(),
            "filters": filters,
            "selected": selected,
            "metabase_configured": config is not None,
            "embed": embed,
            "embed_mode": settings.METABASE_EMBED_MODE,
            "token_minutes": settings.METABASE_EMBED_TTL_SECONDS // 60,
            "grafana_url": _grafana_url(dashboard, form),
        },
    )


@staff_page
def panel_csv(request: HttpRequest, key: str, panel: str) -> HttpResponse:
    """Every row of one panel with the page's filters, streamed as CSV."""
    dashboard = _dashboard(key)
    chosen = next((p for p in dashboard.panels if p.key == panel), None)
    if chosen is None:
        raise Http404(f"No panel {panel!r} on {dashboard.title}.")
    form, unavailable = _filter_form(request)
    if unavailable:
        return render(request, "runs/bad_request.html", {"errors": [unavailable]}, status=503)
    if not form.is_valid():
        errors = form.error_messages()
        return render(request, "runs/bad_request.html", {"errors": errors}, status=400)
    table = CsvTable(chosen.columns, panel_rows(chosen, form.filters(), alias=reporting_alias()))
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    return csv_response(table, filename=f"chm-{chosen.key}-{stamp}.csv")
