"""POST /api/v1/runs/: status codes and body shapes of single and batch ingestion."""

from __future__ import annotations

import gzip
import json

import pytest
from django.test import override_settings

from runs.models import Run, RunStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs/"


def item(**overrides) -> dict:
    data = {
        "pipeline": "orders-etl",
        "external_run_id": "scheduled__2026-03-01T02:00:00",
        "status": "success",
        "started_at": "2026-03-01T02:00:05Z",
        "finished_at": "2026-03-01T02:07:41+00:00",
        "error_message": None,
        "metadata": {"dag_id": "orders_etl"},
    }
    data.update(overrides)
    return data


def post(api, body, **extra):
    return api.post(URL, json.dumps(body), content_type="application/json", **extra)


def test_new_run_answers_201_with_the_run_and_its_outcome(api, pipeline):
    response = post(api, item())

    assert response.status_code == 201
    body = response.json()
    assert body["outcome"] == "created"
    assert body["run"]["pipeline"] == "orders-etl"
    assert body["run"]["client"] == "acme"
    assert body["run"]["status"] == "success"
    assert body["run"]["duration_seconds"] == 456.0
    assert body["run"]["id"] == Run.objects.get().pk


def test_replay_answers_200_unchanged_and_update_answers_200_updated(api, pipeline):
    post(api, item(status="running", finished_at=None))

    updated = post(api, item())
    replay = post(api, item())

    assert (updated.status_code, updated.json()["outcome"]) == (200, "updated")
    assert (replay.status_code, replay.json()["outcome"]) == (200, "unchanged")
    assert Run.objects.count() == 1


def test_path_without_trailing_slash_ingests_too(api, pipeline):
    response = api.post("/api/v1/runs", json.dumps(item()), content_type="application/json")

    assert response.status_code == 201


def test_conflicting_terminal_status_answers_409(api, pipeline):
    post(api, item(status="failed"))

    response = post(api, item(status="success"))

    assert response.status_code == 409
    assert response.json()["outcome"] == "rejected"
    assert "status" in response.json()["errors"]
    assert Run.objects.get().status == RunStatus.FAILED


def test_batch_answers_200_with_one_result_per_item_and_a_summary(api, pipeline):
    batch = [
        item(external_run_id="a"),
        item(external_run_id="b", status="FAILURE", error_message="exit 1"),
        item(external_run_id="a"),
        item(external_run_id="c", started_at="2026-03-01T02:00:05"),
    ]

    response = post(api, batch)

    assert response.status_code == 200
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == [
        "created",
        "created",
        "unchanged",
        "rejected",
    ]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][0]["run_id"] == body["results"][2]["run_id"]
    assert body["results"][3]["run_id"] is None
    assert "started_at" in body["results"][3]["errors"]
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 1, "rejected": 1}
    assert Run.objects.count() == 2


def test_gzip_body_is_accepted(api, pipeline):
    body = gzip.compress(json.dumps(item()).encode())

    response = api.post(URL, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 201


@override_settings(CHM_RUN_ERROR_MESSAGE_MAX_CHARS=100)
def test_long_error_message_is_truncated_with_a_visible_marker(api, pipeline):
    response = post(api, item(status="failed", error_message="x" * 250))

    assert response.status_code == 201
    stored = Run.objects.get().error_message
    assert stored.startswith("x" * 100)
    assert "truncated by CHM: 150 more characters" in stored


def test_batch_above_the_limit_is_refused_whole(api, pipeline):
    batch = [item(external_run_id=f"r{i}") for i in range(1001)]

    response = post(api, batch)

    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    assert Run.objects.count() == 0


def test_ingestion_needs_a_client_key_not_a_staff_session(staff_client, pipeline):
    response = staff_client.post(URL, json.dumps(item()), content_type="application/json")

    assert response.status_code == 403
    assert Run.objects.count() == 0


@pytest.mark.parametrize("status", ["running", "failed"])
def test_ingest_answer_shows_the_run_exactly_as_the_read_api_does(api, pipeline, status):
    finished = None if status == "running" else "2026-03-01T02:07:41Z"
    posted = post(api, item(status=status, finished_at=finished, error_message="e")).json()["run"]
    replayed = post(api, item(status=status, finished_at=finished)).json()

    listed = api.get("/api/v1/runs/").json()["results"]

    assert listed == [posted]
    assert replayed == {"outcome": "unchanged", "run": posted}


@pytest.mark.parametrize(
    ("query", "accept"),
    [("?format=csv", "text/csv"), ("?format=nonsense", "application/xml"), ("", "text/html")],
)
def test_ingestion_answers_json_whatever_the_sender_asks_for(api, pipeline, query, accept):
    response = api.post(
        f"/api/v1/runs/{query}",
        json.dumps(item()),
        content_type="application/json",
        HTTP_ACCEPT=accept,
    )
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["outcome"] == "created"
