"""The read API: filters, newest-first keyset pagination, and who sees what."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import Platform
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
LISTS = ["clients", "pipelines", "runs", "alert-rules"]


def key_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def two_tenants(chm_client, pipeline, other_client):
    theirs = other_client.pipelines.get()
    RunFactory(pipeline=pipeline, external_run_id="ours-1")
    RunFactory(pipeline=theirs, external_run_id="theirs-1")
    AlertRuleFactory(client=chm_client, name="ours")
    AlertRuleFactory(client=other_client, pipeline=theirs, name="theirs")
    return chm_client, other_client


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_runs_are_listed_newest_first_with_cursor_pages(api, pipeline):
    for minutes in range(5):
        RunFactory(
            pipeline=pipeline,
            external_run_id=f"r{minutes}",
            started_at=T0 + dt.timedelta(minutes=minutes),
        )

    first = api.get("/api/v1/runs/", {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    ids = [r["external_run_id"] for page in (first, second, third) for r in page["results"]]
    assert ids == ["r4", "r3", "r2", "r1", "r0"]
    assert third["next"] is None


def test_runs_filter_by_status_platform_pipeline_and_time(api, chm_client, pipeline):
    dbt = PipelineFactory(client=chm_client, slug="dbt-models", platform=Platform.DBT)
    RunFactory(pipeline=pipeline, external_run_id="old-ok", started_at=T0)
    RunFactory(
        pipeline=pipeline,
        external_run_id="new-failed",
        status=RunStatus.FAILED,
        started_at=T0 + dt.timedelta(days=2),
    )
    RunFactory(pipeline=dbt, external_run_id="dbt-ok", started_at=T0 + dt.timedelta(days=1))

    def ids(params):
        return {r["external_run_id"] for r in results(api.get("/api/v1/runs/", params))}

    assert ids({"status": "failed"}) == {"new-failed"}
    assert ids({"platform": "dbt"}) == {"dbt-ok"}
    assert ids({"pipeline": "orders-etl"}) == {"old-ok", "new-failed"}
    assert ids({"client": "acme"}) == {"old-ok", "new-failed", "dbt-ok"}
    assert ids({"started_after": "2026-03-02T00:00:00Z"}) == {"dbt-ok", "new-failed"}
    assert ids({"started_before": "2026-03-02T00:00:00Z"}) == {"old-ok"}


def test_invalid_filter_value_is_a_400(api, pipeline):
    response = api.get("/api/v1/runs/", {"status": "exploded"})

    assert response.status_code == 400
    assert "status" in response.json()


@pytest.mark.parametrize("name", LISTS)
def test_a_client_key_reads_only_its_own_client(two_tenants, name):
    ours, theirs = two_tenants

    rows = results(key_client(ours.raw_key).get(f"/api/v1/{name}/"))

    assert rows, name
    text = json.dumps(rows)
    assert "globex" not in text and "billing-sync" not in text and "theirs" not in text


@pytest.mark.parametrize("name", LISTS)
def test_a_client_key_cannot_reach_another_client_through_filters(two_tenants, name):
    ours, _ = two_tenants

    params = {"slug": "globex"} if name == "clients" else {"client": "globex"}

    rows = results(key_client(ours.raw_key).get(f"/api/v1/{name}/", params))

    assert rows == []


@pytest.mark.parametrize("name", LISTS)
def test_staff_session_reads_every_client(two_tenants, staff_client, name):
    rows = results(staff_client.get(f"/api/v1/{name}/"))

    assert "globex" in json.dumps(rows) or name == "clients" and len(rows) == 2


def test_staff_token_reads_every_client(two_tenants, staff_user):
    token = Token.objects.create(user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    rows = results(client.get("/api/v1/runs/"))

    assert {r["client"] for r in rows} == {"acme", "globex"}


@pytest.mark.parametrize("name", LISTS)
def test_lists_need_a_key_or_a_staff_login(two_tenants, name, django_user_model):
    anonymous = APIClient().get(f"/api/v1/{name}/")
    not_staff = APIClient()
    not_staff.force_authenticate(django_user_model.objects.create_user("visitor"))

    assert anonymous.status_code == 401
    assert not_staff.get(f"/api/v1/{name}/").status_code == 403


def test_a_client_key_cannot_write_runs_of_another_clients_pipeline(two_tenants):
    ours, theirs = two_tenants
    item = {
        "pipeline": "billing-sync",
        "external_run_id": "theirs-1",
        "status": "failed",
        "started_at": "2026-03-01T00:00:00Z",
        "finished_at": "2026-03-01T00:01:00Z",
    }

    single = key_client(ours.raw_key).post("/api/v1/runs/", item, format="json")
    batch = key_client(ours.raw_key).post("/api/v1/runs/", [item], format="json")

    assert single.status_code == 404
    assert batch.json()["results"][0]["outcome"] == "rejected"
    assert theirs.pipelines.get().runs.get().status == RunStatus.SUCCESS


def test_a_client_key_cannot_write_through_lineage_to_another_clients_pipeline(two_tenants):
    ours, theirs = two_tenants
    event = {
        "eventType": "FAIL",
        "eventTime": "2026-03-01T00:01:00Z",
        "producer": "https://example.com",
        "run": {"runId": "theirs-1"},
        "job": {"namespace": "globex", "name": "billing-sync"},
    }

    response = key_client(ours.raw_key).post("/api/v1/lineage", event, format="json")

    assert response.status_code == 404
    assert theirs.pipelines.get().runs.get().status == RunStatus.SUCCESS


def test_alert_rules_do_not_expose_notification_targets(api, chm_client):
    AlertRuleFactory(client=chm_client, channel="webhook", target="https://hooks.example/s3cr3t")

    rows = results(api.get("/api/v1/alert-rules/"))

    assert rows[0]["channel"] == "webhook"
    assert "s3cr3t" not in json.dumps(rows)


def test_clients_list_never_shows_key_hashes(api, chm_client):
    rows = results(api.get("/api/v1/clients/"))

    assert rows == [
        {
            "id": chm_client.pk,
            "slug": "acme",
            "name": "Acme",
            "is_active": True,
            "auto_register_pipelines": False,
            "key_prefix": chm_client.key_prefix,
        }
    ]


def test_time_filters_accept_any_offset_and_refuse_impossible_times(api, pipeline):
    RunFactory(pipeline=pipeline, external_run_id="late", started_at=T0)

    wide_offset = api.get("/api/v1/runs/", {"started_after": "2026-02-28T07:00:00-16:30"})
    underflow = api.get("/api/v1/runs/", {"started_before": "0001-01-01T00:00:00+05:00"})

    assert [r["external_run_id"] for r in results(wide_offset)] == ["late"]
    assert underflow.status_code == 400
    assert "started_before" in underflow.json()


@pytest.mark.parametrize("name", LISTS)
def test_a_page_costs_the_same_queries_however_many_rows_it_shows(
    api, chm_client, pipeline, name, django_assert_max_num_queries
):
    for number in range(30):
        RunFactory(pipeline=pipeline, external_run_id=f"r{number}")
        AlertRuleFactory(client=chm_client, pipeline=pipeline)
        PipelineFactory(client=chm_client)

    # The key lookup and the page itself: no query per row.
    with django_assert_max_num_queries(2):
        assert len(results(api.get(f"/api/v1/{name}/"))) >= 1
