from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from dashboards.catalog import DASHBOARDS
from dashboards.embedding import embedded_dashboards, embedding_config, missing_embedding_settings
from dashboards.forms import DashboardClientForm
from runs.authentication import staff_page


def _grafana_links(client_slug: str | None) -> list[dict[str, str]]:
    if not settings.GRAFANA_URL:
        return []
    query = f"?{urlencode({'var-client': client_slug})}" if client_slug else ""
    return [
        {"title": d.title, "url": f"{settings.GRAFANA_URL}/d/{d.uid}{query}"} for d in DASHBOARDS
    ]


# never_cache: the page carries short-lived signed tokens that must not be served from a cache.
@never_cache
@staff_page
def dashboards_page(request: HttpRequest) -> HttpResponse:
    form = DashboardClientForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "dashboards/index.html", {"form": form}, status=400)
    client = form.cleaned_data.get("client") if form.is_bound else None
    client_slug = client.slug if client else None
    config = embedding_config()
    context = {
        "form": form,
        "client": client,
        "embeds": embedded_dashboards(config, client_slug=client_slug) if config else [],
        "missing_settings": missing_embedding_settings(),
        "token_minutes": settings.METABASE_EMBED_TTL_SECONDS // 60,
        "grafana_links": _grafana_links(client_slug),
    }
    return render(request, "dashboards/index.html", context)
