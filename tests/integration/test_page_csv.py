"""CSV downloads of the pages' tables: staff only, every row with the page's filters applied,
streamed, and every table of every page links to its download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from alerts.actions import acknowledge
from alerts.evaluation import evaluate_alerts
from alerts.models import AlertState
from common.csv_export import CHUNK_ROWS
from runs.models import Incident, RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory
from web import exports

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def history():
    now = timezone.now().replace(microsecond=0)
    acme = ClientFactory(slug="acme", name="Acme Corp")
    globex = ClientFactory(slug="globex", name="Globex")
    orders = PipelineFactory(client=acme, slug="orders", freshness_minutes=60)
    sync = PipelineFactory(client=globex, slug="sync", platform="dbt", owner="")
    runs = [
        RunFactory(pipeline=orders, status=RunStatus.SUCCESS, started_at=now - 5 * HOUR),
        RunFactory(
            pipeline=orders,
            status=RunStatus.FAILED,
            started_at=now - 3 * HOUR,
            error_message='=HYPERLINK("http://evil.example")',
        ),
        RunFactory(pipeline=sync, status=RunStatus.FAILED, started_at=now - 2 * HOUR),
        RunFactory(pipeline=sync, status=RunStatus.RUNNING, started_at=now - HOUR),
    ]
    rule = AlertRuleFactory(
        client=acme, pipeline=orders, threshold=1, target="secret-pager@example.com"
    )
    return {"acme": acme, "orders": orders, "sync": sync, "runs": runs, "rule": rule}


def an_incident(history) -> str:
    """The same error as orders' on sync half an hour before: one incident of both; its key."""
    failed = history["runs"][1]
    RunFactory(
        pipeline=history["sync"],
        status=RunStatus.FAILED,
        started_at=failed.started_at - HOUR / 2,
        error_message=failed.error_message,
    )
    (incident_key,) = Incident.objects.values_list("incident_key", flat=True)
    return incident_key


def download(http, table: str, **params) -> tuple[StreamingHttpResponse, list[dict]]:
    response = http.get(reverse("runs:table-csv", args=[table]), params)
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return response, list(csv.DictReader(io.StringIO(text)))


def test_downloads_need_a_staff_login(client, django_user_model, history):
    url = reverse("runs:table-csv", args=["runs"])
    assert client.get(url).status_code == 302
    client.force_login(django_user_model.objects.create_user("viewer", password="x" * 12))
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_run_explorer_download_holds_every_matching_run_newest_first(staff_client, history):
    response, rows = download(staff_client, "runs", status="failed")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="chm-runs-\d{8}T\d{4}Z\.csv"', response["Content-Disposition"]
    )
    assert list(rows[0]) == list(exports.RUN_COLUMNS)
    failed = [history["runs"][2], history["runs"][1]]
    assert [int(row["id"]) for row in rows] == [run.pk for run in failed]
    assert rows[0]["client"] == "globex" and rows[0]["pipeline"] == "sync"
    assert rows[0]["started_at"] == failed[0].started_at.astimezone(dt.UTC).isoformat()
    assert float(rows[1]["duration_seconds"]) == 300.0

    _, rows = download(staff_client, "runs", client="acme", status=["failed", "success"])
    assert {row["pipeline"] for row in rows} == {"orders"} and len(rows) == 2
    # The explorer's page position is not a filter: the download starts from the newest.
    _, rows = download(staff_client, "runs", pipeline=history["sync"].pk, after="1-1")
    assert [row["status"] for row in rows] == ["running", "failed"]
    assert rows[0]["finished_at"] == "" and rows[0]["duration_seconds"] == ""


def test_text_a_spreadsheet_would_run_as_a_formula_is_quoted(staff_client, history):
    _, rows = download(staff_client, "runs", pipeline=history["orders"].pk, status="failed")
    assert rows[0]["error_message"] == '\'=HYPERLINK("http://evil.example")'


def test_a_bad_filter_or_scope_is_refused_naming_the_parameter(staff_client, history):
    url = reverse("runs:table-csv", args=["runs"])
    response = staff_client.get(url, {"status": "exploded"})
    assert response.status_code == 400
    assert "status:" in response.content.decode()
    for table, params, name in [
        ("client-pipelines", {}, "client"),
        ("client-weekly-trend", {"client": "nobody"}, "client"),
        ("pipeline-alert-rules", {"pipeline": "x"}, "pipeline"),
        ("pipeline-failure-rate", {"pipeline": "999999"}, "pipeline"),
    ]:
        response = staff_client.get(reverse("runs:table-csv", args=[table]), params)
        assert response.status_code == 400, table
        assert f"{name}:" in response.content.decode()
    assert staff_client.get(reverse("runs:table-csv", args=["nothing-here"])).status_code == 404


def test_scoped_tables_hold_only_their_client_or_pipeline(staff_client, history):
    _, rows = download(staff_client, "client-pipelines", client="acme")
    assert [row["pipeline_slug"] for row in rows] == ["orders"]
    assert rows[0]["health"] == "failing"
    _, rows = download(staff_client, "pipeline-alert-rules", pipeline=history["orders"].pk)
    assert len(rows) == 1 and "target" not in rows[0]
    assert "secret-pager" not in str(rows)
    _, rows = download(staff_client, "pipeline-failure-rate", pipeline=history["orders"].pk)
    assert len(rows) == 13 and sum(int(row["failures"]) for row in rows) == 1


def test_view_tables_hold_the_views_columns_and_every_row(staff_client, history):
    _, rows = download(staff_client, "failing-now")
    assert {row["pipeline_slug"] for row in rows} == {"orders", "sync"}
    assert "consecutive_failures" in rows[0]
    _, rows = download(staff_client, "governance-gaps")
    owners = {row["pipeline_slug"]: row["has_owner"] for row in rows}
    assert owners == {"orders": "true", "sync": "false"}
    _, rows = download(staff_client, "failures-per-day")
    assert len(rows) == 30
    assert sum(int(row["failures"]) for row in rows) == 2


def test_incident_and_error_tables_hold_every_incident_pipeline_and_signature(
    staff_client, history
):
    incident_key = an_incident(history)
    _, rows = download(staff_client, "incidents")
    assert [(row["incident_key"], row["pipelines"], row["state"]) for row in rows] == [
        (incident_key, "2", "open")
    ]
    _, rows = download(staff_client, "incident-pipelines", key=incident_key)
    assert {row["pipeline_slug"] for row in rows} == {"orders", "sync"}
    _, rows = download(staff_client, "error-signatures", rank="30d")
    assert sorted(int(row["failures_30d"]) for row in rows) == [1, 2]
    response = staff_client.get(
        reverse("runs:table-csv", args=["incident-pipelines"]), {"key": "nope"}
    )
    assert response.status_code == 400
    assert b"key: give the key of an incident" in response.content
    response = staff_client.get(
        reverse("runs:table-csv", args=["error-signatures"]), {"rank": "1y"}
    )
    assert response.status_code == 400


def test_the_alert_tables_download_what_fires_and_what_happened(
    staff_client, history, django_user_model
):
    evaluate_alerts(deliver=False)
    operator = django_user_model.objects.create_user("night-shift")
    [alert] = AlertState.objects.all()
    acknowledge(alert_id=alert.pk, user=operator, at=timezone.now())

    _, rows = download(staff_client, "firing-alerts")
    assert [(row["rule"], row["pipeline"], row["acknowledged_by"]) for row in rows] == [
        (history["rule"].name, "acme/orders", "night-shift")
    ]
    assert "secret-pager" not in str(rows)
    _, rows = download(staff_client, "alert-history", rule=history["rule"].pk)
    assert [row["kind"] for row in rows] == ["acknowledged", "fired"]
    assert rows[0]["actor"] == "night-shift"
    _, rows = download(staff_client, "alert-history", pipeline=history["orders"].pk, kind="fired")
    assert [row["kind"] for row in rows] == ["fired"]
    response = staff_client.get(reverse("runs:table-csv", args=["alert-history"]))
    assert response.status_code == 400
    assert "rule or pipeline" in response.content.decode()
    response = staff_client.get(reverse("runs:table-csv", args=["alert-history"]), {"rule": "1x"})
    assert response.status_code == 400 and "rule:" in response.content.decode()


@pytest.mark.parametrize("table", sorted(exports.TABLES))
def test_every_table_downloads(staff_client, history, table):
    params = {}
    if table.startswith("client-"):
        params = {"client": "acme"}
    elif table.startswith("pipeline-") or table == "alert-history":
        params = {"pipeline": history["orders"].pk}
    response, _ = download(staff_client, table, **params)
    assert response["Cache-Control"] == "private, no-store"


def _csv_links(body: str) -> set[str]:
    return set(re.findall(r'<a class="csv" href="/csv/([\w-]+)\.csv', body))


def test_every_table_of_every_page_links_to_its_download(staff_client, history):
    acme, orders = history["acme"], history["orders"]
    incident_key = an_incident(history)
    pages = {
        reverse("runs:overview"): {
            "incidents",
            "failing-now",
            "client-health",
            "failures-per-day",
            "platforms",
            "firing-alerts",
        },
        reverse("runs:errors"): {"error-signatures"},
        reverse("runs:incident-detail", args=[incident_key]): {"incident-pipelines"},
        reverse("runs:client-detail", args=[acme.slug]): {
            "client-pipelines",
            "client-weekly-trend",
        },
        reverse("runs:pipeline-detail", args=[orders.pk]): {
            "pipeline-failure-rate",
            "pipeline-alert-rules",
            "runs",
            "firing-alerts",
        },
        reverse("runs:run-list"): {"runs"},
        reverse("alerts:firing"): {"firing-alerts"},
        reverse("alerts:pipeline-history", args=[orders.pk]): {"alert-history"},
        reverse("alerts:rule-history", args=[history["rule"].pk]): {"alert-history"},
        reverse("runs:flaky"): {"flaky", "flaky-insufficient-history"},
        reverse("runs:changes"): {"changes-newly-failing", "changes-recovered", "changes-slower"},
        reverse("runs:freshness"): {"freshness-stale", "freshness-stuck"},
        reverse("runs:governance"): {"governance-clients", "governance-gaps"},
    }
    linked = set()
    for url, tables in pages.items():
        found = _csv_links(staff_client.get(url).content.decode())
        assert found == tables, url
        linked |= found
    assert linked == set(exports.TABLES)


def test_the_run_explorer_links_its_download_with_its_filters(staff_client, history):
    body = staff_client.get(
        reverse("runs:run-list"), {"client": "acme", "after": "9999999999999999-1"}
    )
    body = body.content.decode()
    assert 'href="/csv/runs.csv?client=acme"' in body
    pipeline_page = staff_client.get(reverse("runs:pipeline-detail", args=[history["orders"].pk]))
    assert f'href="/csv/runs.csv?pipeline={history["orders"].pk}"' in pipeline_page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_abandoned_download_ends_its_read_transaction(staff_client):
    pipeline = PipelineFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO runs_run (pipeline_id, external_run_id, status, started_at, "
            "error_message, metadata, created_at, updated_at) "
            "SELECT %s, 'r' || n, 'running', now() - n * interval '1 minute', '', '{}', "
            "now(), now() FROM generate_series(1, %s) AS n",
            [pipeline.pk, CHUNK_ROWS + 10],
        )
    response = staff_client.get(reverse("runs:table-csv", args=["runs"]))
    chunks = iter(response.streaming_content)
    first = next(chunks)
    assert first.startswith(b"id,client,pipeline")
    assert first.count(b"\r\n") == CHUNK_ROWS + 1
    # The rest is still to be read, from the cursor of an open transaction.
    assert connection.in_atomic_block
    response.close()
    assert not connection.in_atomic_block
