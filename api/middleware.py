"""Ingestion metrics: requests, their latency and what became of every run they carried."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
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


# URL names (namespace "api") of the ingestion endpoints, and the metric label of each.
INGEST_ENDPOINTS = {
    "runs": "runs",
    "runs-without-slash": "runs",
    "lineage": "lineage",
    "lineage-with-slash": "lineage",
}


class IngestMetricsMiddleware:
    """Count ingestion requests, their latency and what became of every run they carried.

    The outcomes come from the API's documented answer (``outcome`` of a single run or a
    lineage event, ``summary`` of a batch), so the views stay unaware of metrics.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = ingest_endpoint(request)
        if endpoint is None:
            return response
        INGEST_LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        INGEST_REQUESTS.labels(
            endpoint=endpoint, outcome=response_outcome(response.status_code)
        ).inc()
        outcomes = item_outcomes(response)
        for outcome, count in outcomes.items():
            INGEST_ITEMS.labels(endpoint=endpoint, outcome=outcome).inc(count)
        if outcomes:
            request.chm_ingest_outcomes = outcomes
        return response


def ingest_endpoint(request: HttpRequest) -> str | None:
    match = getattr(request, "resolver_match", None)
    if request.method != "POST" or match is None or match.namespace != "api":
        return None
    return INGEST_ENDPOINTS.get(match.url_name)


def item_outcomes(response: HttpResponse) -> dict[str, int]:
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        return {}
    summary = data.get("summary")
    if isinstance(summary, dict):
        return {str(k): int(v) for k, v in summary.items() if isinstance(v, int) and v > 0}
    outcome = data.get("outcome")
    return {outcome: 1} if isinstance(outcome, str) else {}


def response_outcome(status: int) -> str:
    """How an answer is labelled in the ingestion metrics and the request log."""
    if status == 429:
        return "rate_limited"
    if status == 503:
        return "unavailable"
    if status >= 500:
        return "error"
    if status >= 400:
        return "refused"
    return "ok"
