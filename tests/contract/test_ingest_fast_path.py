"""Client-key ingestion POSTs skip part of DRF's dispatch (runs/api/views.py,
ClientKeyIngestMixin); their answers must be those of the full dispatch, byte for byte.

A plain JSON Accept header (none, ``*/*`` or ``application/json``) takes the short path; any
other Accept header that still asks for JSON takes DRF's full dispatch. Each case below is sent
both ways and the answers compared: status, body and the headers a client reads.
"""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from runs import throttling
from runs.api.views import LineageView, RunViewSet
from runs.models import Run
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

SHORT = {}
FULL = {"HTTP_ACCEPT": "application/json, */*;q=0.1"}
COMPARED_HEADERS = ("Content-Type", "Allow", "Vary", "WWW-Authenticate", "Retry-After")


def run_item(external_run_id: str = "run-1", **overrides) -> dict:
    return {
        "pipeline": "orders-etl",
        "external_run_id": external_run_id,
        "status": "success",
        "started_at": "2026-03-01T02:00:00Z",
        "finished_at": "2026-03-01T02:05:00Z",
        **overrides,
    }


def lineage_event(run_id: str, event_type: str = "COMPLETE", job: str = "orders-etl") -> dict:
    return {
        "eventType": event_type,
        "eventTime": "2026-03-01T02:05:00Z",
        "producer": "https://example.com/tests",
        "run": {"runId": run_id},
        "job": {"namespace": "tests", "name": job},
    }


def post(api: APIClient, body, path: str = "/api/v1/runs/", headers: dict = SHORT, **extra):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    return api.post(path, body, content_type="application/json", **headers, **extra)


def answer(response) -> tuple:
    headers = {name: response.get(name) for name in COMPARED_HEADERS}
    return response.status_code, response.content, headers


def assert_same_answer(short, full, status: int) -> None:
    assert short.status_code == status, short.content
    assert answer(short) == answer(full)


@pytest.fixture
def keyless() -> APIClient:
    return APIClient()


def with_key(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=key)
    return api


def test_the_full_dispatch_is_what_the_comparison_runs_against(api, pipeline, monkeypatch):
    def no_negotiation(*args, **kwargs):
        raise AssertionError("content negotiation ran")

    monkeypatch.setattr(RunViewSet, "perform_content_negotiation", no_negotiation)
    assert post(api, run_item("short")).status_code == 201
    with pytest.raises(AssertionError, match="content negotiation ran"):
        post(api, run_item("full"), headers=FULL)


@pytest.mark.parametrize("accept", ["*/*", "application/json", ""])
def test_plain_json_accept_headers_ingest(api, pipeline, accept):
    response = post(api, run_item(), HTTP_ACCEPT=accept)
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"


def test_an_accept_header_without_json_is_still_refused_with_406(api, pipeline):
    response = post(api, run_item(), HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert Run.objects.count() == 0


def test_created_updated_and_unchanged_answer_alike(api, pipeline):
    def volatile_free(response) -> tuple:
        data = response.json()
        run = data["run"]
        for name in ("id", "external_run_id", "created_at", "updated_at"):
            run.pop(name)
        return response.status_code, data, {n: response.get(n) for n in COMPARED_HEADERS}

    for event in (
        run_item(status="running", finished_at=None),  # created
        run_item(),  # updated: the run finished
        run_item(),  # unchanged: a duplicate delivery
    ):
        short = post(api, {**event, "external_run_id": "short"})
        full = post(api, {**event, "external_run_id": "full"}, headers=FULL)
        assert volatile_free(short) == volatile_free(full)
    assert [short.json()["outcome"], full.json()["outcome"]] == ["unchanged", "unchanged"]


def test_batches_answer_alike(api, pipeline):
    batch = [run_item("a"), run_item("b", pipeline="nope"), run_item("c", status="??")]
    short = post(api, batch)
    full = post(api, batch, headers=FULL)
    assert short.json()["summary"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    assert full.json()["summary"] == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 2}
    assert [r["errors"] for r in short.json()["results"]] == [
        r["errors"] for r in full.json()["results"]
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param('{"pipeline": "orders-etl",', 400, id="malformed-json"),
        pytest.param("", 400, id="empty-body"),
        pytest.param('"a run"', 400, id="neither-object-nor-list"),
        pytest.param(run_item(started_at="2026-03-01T02:00:00"), 400, id="naive-timestamp"),
        pytest.param(run_item(colour="blue"), 400, id="unknown-field"),
        pytest.param(run_item(pipeline="someone-elses"), 404, id="unknown-pipeline"),
    ],
)
def test_rejected_runs_answer_alike(api, pipeline, body, status):
    assert_same_answer(post(api, body), post(api, body, headers=FULL), status)
    assert Run.objects.count() == 0


def test_a_conflict_answers_alike(api, pipeline):
    post(api, run_item())
    conflicting = run_item(status="failed")
    assert_same_answer(post(api, conflicting), post(api, conflicting, headers=FULL), 409)


def test_oversized_and_badly_encoded_bodies_answer_alike(api, pipeline, settings):
    settings.CHM_INGEST_MAX_BODY_BYTES = 64
    big = json.dumps(run_item(error_message="x" * 100))
    assert_same_answer(post(api, big), post(api, big, headers=FULL), 413)
    bomb = gzip.compress(b"[" + b" " * 10_000 + b"]")
    short = post(api, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert_same_answer(short, post(api, bomb, headers=FULL, HTTP_CONTENT_ENCODING="gzip"), 413)
    short = post(api, b"{}", HTTP_CONTENT_ENCODING="br")
    assert_same_answer(short, post(api, b"{}", headers=FULL, HTTP_CONTENT_ENCODING="br"), 415)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer", id="no-key"),
        pytest.param("Bearer two parts", id="malformed"),
        pytest.param("Bearer chm_not-a-key-of-anyone", id="unknown-key"),
        pytest.param("bearer chm_not-a-key-of-anyone", id="lower-case-scheme"),
    ],
)
def test_bad_keys_answer_401_alike(pipeline, authorization):
    api = with_key(authorization)
    short, full = post(api, run_item()), post(api, run_item(), headers=FULL)
    assert_same_answer(short, full, 401)
    assert short["WWW-Authenticate"] == 'Bearer realm="CHM"'
    assert set(short.json()) == {"detail"}
    assert Run.objects.count() == 0


def test_a_rotated_key_and_an_inactive_client_answer_401_at_once(api, chm_client, pipeline):
    old = with_key(f"Bearer {chm_client.raw_key}")
    assert post(old, run_item("before")).status_code == 201
    new_key = chm_client.rotate_key()
    short, full = post(old, run_item("after")), post(old, run_item("after"), headers=FULL)
    assert_same_answer(short, full, 401)
    assert short.json() == {"detail": "Unknown, rotated or inactive client key."}

    renewed = with_key(f"Bearer {new_key}")
    assert post(renewed, run_item("after")).status_code == 201
    chm_client.is_active = False
    chm_client.save(update_fields=["is_active"])
    short, full = post(renewed, run_item("later")), post(renewed, run_item("later"), headers=FULL)
    assert_same_answer(short, full, 401)


def test_requests_without_a_client_key_keep_drfs_answers(keyless, staff_user, pipeline):
    assert post(keyless, run_item()).status_code == 401
    keyless.force_authenticate(staff_user)
    response = post(keyless, run_item())
    assert response.status_code == 403
    assert "client key" in response.json()["detail"]


def test_the_rate_limit_answers_alike(api, pipeline, settings, monkeypatch):
    settings.INGEST_RATE_LIMIT = 2
    settings.INGEST_RATE_LIMIT_WINDOW = 60
    monkeypatch.setattr(throttling, "_now", lambda: 1_800_000_015.0)
    caches["ratelimit"].clear()
    try:
        assert post(api, run_item("a")).status_code == 201
        assert post(api, run_item("b"), headers=FULL).status_code == 201
        short, full = post(api, run_item("c")), post(api, run_item("c"), headers=FULL)
    finally:
        caches["ratelimit"].clear()
    assert_same_answer(short, full, 429)
    assert short["Retry-After"] == "45"


def test_lineage_events_answer_alike(api, pipeline):
    created = post(api, lineage_event("r-short"), "/api/v1/lineage")
    full = post(api, lineage_event("r-full"), "/api/v1/lineage", headers=FULL)
    assert created.status_code == full.status_code == 201
    assert set(created.json()) == set(full.json()) == {"outcome", "run_id", "pipeline"}

    for body, status in ((lineage_event("r", job="nope"), 404), ("[]", 400)):
        short = post(api, body, "/api/v1/lineage")
        assert_same_answer(short, post(api, body, "/api/v1/lineage", headers=FULL), status)
    unknown = with_key("Bearer chm_not-a-key-of-anyone")
    short = post(unknown, lineage_event("r"), "/api/v1/lineage")
    full = post(unknown, lineage_event("r"), "/api/v1/lineage", headers=FULL)
    assert_same_answer(short, full, 401)


def test_one_client_key_cannot_write_another_clients_pipelines(pipeline):
    other = ClientFactory(slug="other")
    response = post(with_key(f"Bearer {other.raw_key}"), run_item())
    assert response.status_code == 404
    assert Run.objects.count() == 0


def test_the_lineage_view_takes_the_short_path_too(api, pipeline, monkeypatch):
    def no_negotiation(*args, **kwargs):
        raise AssertionError("content negotiation ran")

    monkeypatch.setattr(LineageView, "perform_content_negotiation", no_negotiation)
    assert post(api, lineage_event("r-1"), "/api/v1/lineage").status_code == 201
