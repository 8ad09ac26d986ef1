"""The read API answers CSV on request: the same rows, columns and scoping as JSON, one page at
a time with the next page in a Link header, and errors as CSV too."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from tests.factories import AlertRuleFactory, RunFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("name", ["clients", "pipelines", "runs", "alert-rules"])
def test_every_list_answers_the_json_rows_as_csv(api, pipeline, name):
    RunFactory(pipeline=pipeline, external_run_id="r1", metadata={"dag": "orders"})
    AlertRuleFactory(client=pipeline.client)
    as_json = api.get(f"/api/v1/{name}/").json()["results"]
    rows = csv_rows(api.get(f"/api/v1/{name}/", {"format": "csv"}))
    assert [list(row) for row in rows] == [list(item) for item in as_json]
    assert [row["id"] for row in rows] == [str(item["id"]) for item in as_json]


def test_the_accept_header_chooses_csv_too(api, pipeline):
    RunFactory(pipeline=pipeline, external_run_id="r1")
    rows = csv_rows(api.get("/api/v1/runs/", HTTP_ACCEPT="text/csv"))
    assert [row["external_run_id"] for row in rows] == ["r1"]


def test_cells_follow_the_download_rule(api, pipeline):
    RunFactory(
        pipeline=pipeline,
        external_run_id="r1",
        status="failed",
        started_at=T0,
        finished_at=T0 + dt.timedelta(seconds=90),
        error_message="@SUM(A1:A9)",
        metadata={"dag": "orders", "try": 2},
    )
    (row,) = csv_rows(api.get("/api/v1/runs/", {"format": "csv"}))
    assert row["started_at"] == "2026-03-01T00:00:00Z"
    assert row["duration_seconds"] == "90.0"
    assert row["error_message"] == "'@SUM(A1:A9)"
    assert row["metadata"] == '{"dag": "orders", "try": 2}'


def test_pages_follow_the_link_header(api, pipeline):
    for minute in range(3):
        RunFactory(
            pipeline=pipeline,
            external_run_id=f"r{minute}",
            started_at=T0 + minute * dt.timedelta(minutes=1),
        )
    seen, url, params = [], "/api/v1/runs/", {"format": "csv", "page_size": 2}
    while url:
        response = api.get(url, params)
        seen += [row["external_run_id"] for row in csv_rows(response)]
        link = response.get("Link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link)[1] if link else None
        params = None
    assert seen == ["r2", "r1", "r0"]


def test_an_empty_list_still_names_its_columns(api):
    response = api.get("/api/v1/alert-rules/", {"format": "csv"})
    assert response.content.decode().splitlines()[0].startswith("id,")
    assert csv_rows(response) == []


def test_a_client_key_sees_only_its_own_client_in_csv(api, pipeline, other_client):
    RunFactory(pipeline=pipeline, external_run_id="ours")
    RunFactory(pipeline=other_client.pipelines.get(), external_run_id="theirs")
    rows = csv_rows(api.get("/api/v1/runs/", {"format": "csv"}))
    assert [row["external_run_id"] for row in rows] == ["ours"]


def test_errors_answer_in_csv_naming_the_field(api):
    response = api.get("/api/v1/runs/", {"format": "csv", "status": "exploded"})
    assert response.status_code == 400
    assert response.content.decode().splitlines()[0] == "status"
    anonymous = api.__class__().get("/api/v1/runs/", {"format": "csv"})
    assert anonymous.status_code == 401
    assert anonymous.content.decode().splitlines()[0] == "detail"
