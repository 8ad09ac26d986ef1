"""CHM's own Prometheus metrics, next to django-prometheus's request and database metrics.

prometheus_client switches to multi-process mode by itself when PROMETHEUS_MULTIPROC_DIR is
set (gunicorn: see chm_project/gunicorn_conf.py), so these objects work unchanged under
several workers and /metrics then sums every worker's samples.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import Counter, Histogram

INGEST_ITEMS = Counter(
    "chm_ingest_items_total",
    "Runs received for ingestion, by endpoint and outcome (created, updated, unchanged, rejected).",
    ["endpoint", "outcome"],
)
INGEST_REQUESTS = Counter(
    "chm_ingest_requests_total",
    "Ingestion requests by endpoint and answer (ok, refused, rate_limited, unavailable, error).",
    ["endpoint", "outcome"],
)
INGEST_LATENCY = Histogram(
    "chm_ingest_request_duration_seconds",
    "Time to answer an ingestion request, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INGEST_RATE_LIMITED = Counter(
    "chm_ingest_rate_limited_total",
    "Ingestion requests answered 429 because their key was over INGEST_RATE_LIMIT.",
)
AUTHENTICATION_FAILURES = Counter(
    "chm_authentication_failures_total",
    "Wrong client keys, wrong API tokens and failed admin logins (counted per IP address for "
    "AUTH_FAILURE_RATE_LIMIT).",
)
DATABASE_UNAVAILABLE = Counter(
    "chm_database_unavailable_total",
    "Requests answered 503 because PostgreSQL was unreachable or dropped the connection.",
    ["exception"],
)


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
