"""Every class of bad input: a clear 4xx naming the field, never a 500, nothing written."""

from __future__ import annotations

import gzip
import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from runs.models import Run

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs/"


def item(**overrides) -> dict:
    data = {
        "pipeline": "orders-etl",
        "external_run_id": "run-1",
        "status": "success",
        "started_at": "2026-03-01T02:00:00Z",
        "finished_at": "2026-03-01T02:05:00Z",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def post_raw(api, body: bytes | str, **extra):
    return api.post(URL, body, content_type="application/json", **extra)


def assert_rejected(response, status: int, field: str) -> None:
    assert response.status_code == status, response.content
    assert field in response.json()["errors"], response.json()
    assert Run.objects.count() == 0


def test_malformed_json_is_a_400_naming_the_body(api, pipeline):
    assert_rejected(post_raw(api, '{"pipeline": "orders-etl",'), 400, "body")


def test_empty_body_is_a_400_naming_the_body(api, pipeline):
    assert_rejected(post_raw(api, ""), 400, "body")


def test_json_that_is_neither_object_nor_list_is_a_400(api, pipeline):
    assert_rejected(post_raw(api, '"a run"'), 400, "body")


def test_broken_gzip_is_a_400(api, pipeline):
    response = post_raw(api, b"not gzip at all", HTTP_CONTENT_ENCODING="gzip")
    assert_rejected(response, 400, "body")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pipeline", 42),
        ("external_run_id", ["a", "b"]),
        ("status", {"state": "success"}),
        ("started_at", 1772330400),
        ("finished_at", True),
        ("error_message", {"message": "boom"}),
        ("metadata", ["not", "an", "object"]),
    ],
)
def test_wrong_type_is_a_400_naming_the_field(api, pipeline, field, value):
    assert_rejected(post_raw(api, json.dumps(item(**{field: value}))), 400, field)


@pytest.mark.parametrize("field", ["pipeline", "external_run_id", "status", "started_at"])
def test_missing_required_field_is_a_400_naming_it(api, pipeline, field):
    assert_rejected(post_raw(api, json.dumps(item(**{field: ...}))), 400, field)


def test_naive_timestamp_is_a_400_naming_the_field(api, pipeline):
    response = post_raw(api, json.dumps(item(started_at="2026-03-01T02:00:00")))
    assert_rejected(response, 400, "started_at")
    assert "time zone" in response.json()["errors"]["started_at"][0]


def test_unparseable_timestamp_is_a_400_naming_the_field(api, pipeline):
    assert_rejected(post_raw(api, json.dumps(item(finished_at="yesterday"))), 400, "finished_at")


def test_finish_before_start_is_a_400_naming_finished_at(api, pipeline):
    body = item(started_at="2026-03-01T03:00:00Z", finished_at="2026-03-01T02:00:00Z")
    assert_rejected(post_raw(api, json.dumps(body)), 400, "finished_at")


def test_terminal_status_without_finish_is_a_400_naming_finished_at(api, pipeline):
    assert_rejected(post_raw(api, json.dumps(item(finished_at=...))), 400, "finished_at")


def test_unknown_status_is_a_400_naming_status(api, pipeline):
    assert_rejected(post_raw(api, json.dumps(item(status="exploded"))), 400, "status")


def test_unknown_field_is_a_400_naming_it(api, pipeline):
    body = {**item(), "finshed_at": "2026-03-01T02:05:00Z"}
    assert_rejected(post_raw(api, json.dumps(body)), 400, "finshed_at")


def test_nul_character_in_the_run_id_is_a_400(api, pipeline):
    assert_rejected(
        post_raw(api, json.dumps(item(external_run_id="a\u0000b"))), 400, "external_run_id"
    )


def test_overlong_run_id_is_a_400(api, pipeline):
    assert_rejected(
        post_raw(api, json.dumps(item(external_run_id="x" * 256))), 400, "external_run_id"
    )


@override_settings(CHM_RUN_METADATA_MAX_BYTES=200)
def test_oversized_metadata_is_a_400_naming_metadata(api, pipeline):
    response = post_raw(api, json.dumps(item(metadata={"log": "x" * 500})))
    assert_rejected(response, 400, "metadata")


def test_unknown_pipeline_is_a_404_naming_pipeline(api, pipeline):
    assert_rejected(post_raw(api, json.dumps(item(pipeline="no-such-pipeline"))), 404, "pipeline")


def test_another_clients_pipeline_answers_exactly_like_an_unknown_one(api, pipeline, other_client):
    theirs = post_raw(api, json.dumps(item(pipeline="billing-sync")))
    unknown = post_raw(api, json.dumps(item(pipeline="billing-synd")))

    assert_rejected(theirs, 404, "pipeline")
    assert theirs.json()["errors"]["pipeline"] == [
        message.replace("billing-synd", "billing-sync")
        for message in unknown.json()["errors"]["pipeline"]
    ]


@override_settings(CHM_INGEST_MAX_BODY_BYTES=1000)
def test_oversized_body_is_a_413(api, pipeline):
    response = post_raw(api, json.dumps(item(metadata={"log": "x" * 2000})))
    assert_rejected(response, 413, "body")


@override_settings(CHM_INGEST_MAX_BODY_BYTES=1000)
def test_gzip_body_that_inflates_beyond_the_limit_is_a_413(api, pipeline):
    compressed = gzip.compress(json.dumps(item(metadata={"log": "x" * 5000})).encode())
    assert len(compressed) < 1000

    response = post_raw(api, compressed, HTTP_CONTENT_ENCODING="gzip")
    assert_rejected(response, 413, "body")


def test_missing_key_is_a_401(pipeline):
    response = APIClient().post(URL, json.dumps(item()), content_type="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Run.objects.count() == 0


def test_wrong_key_is_a_401(pipeline):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer chm_not-a-key-anyone-was-given")

    response = client.post(URL, json.dumps(item()), content_type="application/json")

    assert response.status_code == 401
    assert Run.objects.count() == 0


def test_key_of_an_inactive_client_is_a_401(api, chm_client, pipeline):
    chm_client.is_active = False
    chm_client.save()

    assert post_raw(api, json.dumps(item())).status_code == 401


def test_timestamp_that_leaves_the_calendar_in_utc_is_a_400(api, pipeline):
    body = item(started_at="0001-01-01T00:00:00+05:00", finished_at=...)
    assert_rejected(post_raw(api, json.dumps({**body, "status": "running"})), 400, "started_at")


def test_offset_beyond_what_postgresql_accepts_is_stored_in_utc(api, pipeline):
    body = item(started_at="2026-03-01T02:00:00-16:30", finished_at="2026-03-01T18:40:00Z")

    response = post_raw(api, json.dumps(body))

    assert response.status_code == 201
    assert response.json()["run"]["started_at"] == "2026-03-01T18:30:00Z"
