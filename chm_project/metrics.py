"""/metrics: django-prometheus's request and database metrics, and CHM's own, each defined
next to what it counts (api/middleware.py: ingestion; api/throttling.py: rate limits and failed
authentications; chm_project/middleware.py: database outages).

prometheus_client switches to multi-process mode by itself when PROMETHEUS_MULTIPROC_DIR is
set (gunicorn: see chm_project/gunicorn_conf.py), so the metrics work unchanged under several
workers and /metrics then sums every worker's samples.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; wants the bearer token when METRICS_TOKEN is set. Without a
    token it is open in development only: with DEBUG off it refuses every scrape (the metrics
    name clients, endpoints and error rates) and ``check --deploy`` says so (chm.W001)."""
    token = settings.METRICS_TOKEN
    if not token and not settings.DEBUG:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN (docs/operations.md).\n",
            status=403,
            content_type="text/plain",
        )
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return HttpResponse(
                "Metrics need the bearer token.\n", status=401, content_type="text/plain"
            )
    return ExportToDjangoView(request)
