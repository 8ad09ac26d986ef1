"""/metrics, the JSON request log, and the 503 answer when the database fails."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import InterfaceError, OperationalError
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from api.authentication import ClientKeyAuthentication

pytestmark = pytest.mark.django_db

RUN = {
    "pipeline": "orders-etl",
    "external_run_id": "r-1",
    "status": "failed",
    "started_at": "2026-03-01T10:00:00Z",
    "finished_at": "2026-03-01T10:05:00Z",
}


@pytest.fixture
def api(pipeline) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pipeline.client.raw_key}")
    return client


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_ingested_runs_by_outcome(api, client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    created = sample("chm_ingest_items_total", endpoint="runs", outcome="created")
    rejected = sample("chm_ingest_items_total", endpoint="runs", outcome="rejected")
    ok = sample("chm_ingest_requests_total", endpoint="runs", outcome="ok")
    latency = sample("chm_ingest_request_duration_seconds_count", endpoint="runs")

    response = api.post("/api/v1/runs/", [RUN, {**RUN, "pipeline": "nope"}], format="json")
    assert response.status_code == 200

    assert sample("chm_ingest_items_total", endpoint="runs", outcome="created") == created + 1
    assert sample("chm_ingest_items_total", endpoint="runs", outcome="rejected") == rejected + 1
    assert sample("chm_ingest_requests_total", endpoint="runs", outcome="ok") == ok + 1
    assert sample("chm_ingest_request_duration_seconds_count", endpoint="runs") == latency + 1

    page = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'chm_ingest_items_total{endpoint="runs",outcome="created"}' in body
    assert "django_db_new_connections_total" in body  # database metrics, from the backend


def test_metrics_want_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_metrics_without_a_token_are_refused_unless_in_development(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert b"METRICS_TOKEN" in refused.content
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


@pytest.fixture
def request_log(settings, caplog):
    settings.REQUEST_LOG_JSON = True
    logger = logging.getLogger("chm.requests")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_json_request_log_has_key_prefix_outcome_and_duration(api, pipeline, request_log):
    api.post("/api/v1/runs/", RUN, format="json")

    lines = [json.loads(r.getMessage()) for r in request_log.records if r.name == "chm.requests"]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "POST"
    assert line["path"] == "/api/v1/runs/"
    assert line["status"] == 201
    assert line["outcome"] == "ok"
    assert line["items"] == {"created": 1}
    assert line["key_prefix"] == pipeline.client.key_prefix
    assert pipeline.client.raw_key not in request_log.text
    assert line["duration_ms"] >= 0


def test_no_request_log_unless_enabled(api, caplog):
    logger = logging.getLogger("chm.requests")
    logger.addHandler(caplog.handler)
    try:
        api.post("/api/v1/runs/", RUN, format="json")
    finally:
        logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.name == "chm.requests"]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_failure_answers_503_json_with_retry_after(api, monkeypatch, error):
    def database_gone(self, request):
        raise error("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(ClientKeyAuthentication, "authenticate", database_gone)
    before = sample("chm_database_unavailable_total", exception=error.__name__)
    unavailable = sample("chm_ingest_requests_total", endpoint="runs", outcome="unavailable")

    response = api.post("/api/v1/runs/", RUN, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database is unavailable" in response.json()["detail"]
    assert sample("chm_database_unavailable_total", exception=error.__name__) == before + 1
    assert (
        sample("chm_ingest_requests_total", endpoint="runs", outcome="unavailable")
        == unavailable + 1
    )


def test_a_value_postgresql_refuses_answers_400_not_500(api, monkeypatch):
    # The net under validation: a value Python accepted but PostgreSQL refuses (an offset
    # beyond its ±15:59 limit) reaching the database through any path.
    from django.db import connection

    def refused_value(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz", ["2026-01-29T15:07:48-21:03"])

    monkeypatch.setattr(ClientKeyAuthentication, "authenticate", refused_value)
    response = api.get("/api/v1/runs/")
    assert response.status_code == 400
    assert "out of range" in response.json()["detail"]


def test_database_sessions_carry_the_statement_and_lock_timeouts():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        statement_timeout = cursor.fetchone()[0]
        cursor.execute("SHOW lock_timeout")
        lock_timeout = cursor.fetchone()[0]
    assert (statement_timeout, lock_timeout) == ("10s", "3s")
