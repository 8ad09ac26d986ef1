"""Incidents on the staff pages: at the top of the overview, each opening onto its pipelines;
their own page; the pipeline page saying which incident its failure belongs to; the error
signatures page ranking signatures over 7 and 30 days."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory.models import Platform
from runs.models import Incident
from runs.signatures import failure_signature
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from web import views

pytestmark = pytest.mark.django_db

DENIED = "permission denied for schema analytics"
TIMEOUT = "Read timed out after 30 s calling the orders API"


def hours_ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


@pytest.fixture
def outage():
    """A credential expiry seen by three pipelines of two clients (one recovered since); an
    unrelated failure of another pipeline."""
    acme = ClientFactory(slug="acme", name="Acme Corp")
    globex = ClientFactory(slug="globex", name="Globex")
    orders = PipelineFactory(client=acme, slug="orders", name="Orders load")
    ledger = PipelineFactory(client=acme, slug="ledger", name="Ledger", platform=Platform.DBT)
    tickets = PipelineFactory(client=globex, slug="tickets", name="Support tickets")
    lone = PipelineFactory(client=globex, slug="lone", name="Lone API sync")
    for n, pipeline in enumerate((orders, ledger, tickets)):
        RunFactory(
            pipeline=pipeline,
            status="failed",
            started_at=hours_ago(5 - n * 0.5),
            error_message=f"psycopg2.errors.InsufficientPrivilege: {DENIED}",
        )
    RunFactory(pipeline=ledger, status="success", started_at=hours_ago(1))
    for hours in (24 * 10, 24 * 9, 2):
        RunFactory(
            pipeline=lone, status="failed", started_at=hours_ago(hours), error_message=TIMEOUT
        )
    return {"orders": orders, "ledger": ledger, "tickets": tickets, "lone": lone}


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start : html.index("</section>", start)]


def test_the_overview_shows_one_row_per_incident_that_opens_onto_its_page(staff_client, outage):
    html = staff_client.get(reverse("runs:overview")).content.decode()
    assert html.index('id="incidents"') < html.index('id="failing-now"')
    incidents = section(html, "incidents")
    assert incidents.count("<tr") == 2  # the header and one incident
    assert DENIED in incidents
    assert "1 open" in incidents
    assert "3 pipelines, 2 not succeeded since" in incidents
    assert "Lone API sync" not in incidents
    key = Incident.objects.get().incident_key
    assert reverse("runs:incident-detail", args=[key]) in incidents


def test_open_incidents_come_before_resolved_ones(staff_client):
    def incident(message: str, hours: float, *, recovered: bool):
        for _ in range(2):
            pipeline = PipelineFactory()
            RunFactory(
                pipeline=pipeline,
                status="failed",
                started_at=hours_ago(hours),
                error_message=message,
            )
            if recovered:
                RunFactory(pipeline=pipeline, status="success", started_at=hours_ago(hours - 1))

    incident("old and still open", 20, recovered=False)
    incident("recent and resolved", 5, recovered=True)
    html = staff_client.get(reverse("runs:overview")).content.decode()
    incidents = section(html, "incidents")
    assert incidents.index("old and still open") < incidents.index("recent and resolved")
    assert "1 open · 2 in 7 days" in incidents


def test_the_overview_counts_every_open_incident_beyond_those_it_lists(staff_client, monkeypatch):
    monkeypatch.setattr(views, "OVERVIEW_INCIDENT_ROWS", 1)
    for n in range(3):
        for _ in range(2):
            RunFactory(
                pipeline=PipelineFactory(),
                status="failed",
                started_at=hours_ago(10 + 3 * n),
                error_message=f"permission denied for schema s{n}",
            )
    incidents = section(staff_client.get(reverse("runs:overview")).content.decode(), "incidents")
    assert "3 open" in incidents
    assert incidents.count("badge status-failed") == 1


def test_the_incident_page_lists_its_pipelines_and_whether_they_recovered(staff_client, outage):
    key = Incident.objects.get().incident_key
    html = staff_client.get(reverse("runs:incident-detail", args=[key])).content.decode()
    assert key in html
    assert failure_signature(DENIED).digest in html
    pipelines = section(html, "pipelines")
    assert pipelines.count("still failing") == 2
    assert pipelines.count("succeeded ") == 1
    assert (
        staff_client.get(reverse("runs:incident-detail", args=["signature:x:y"])).status_code == 404
    )


def test_a_pipeline_page_says_which_incident_its_failure_belongs_to(staff_client, outage):
    key = Incident.objects.get().incident_key
    html = staff_client.get(reverse("runs:pipeline-detail", args=[outage["tickets"].pk]))
    part = section(html.content.decode(), "incidents")
    assert reverse("runs:incident-detail", args=[key]) in part
    assert DENIED in part and "shared with other pipelines" in part
    assert "not succeeded since" in part
    ledger = staff_client.get(reverse("runs:pipeline-detail", args=[outage["ledger"].pk]))
    assert "succeeded since" in section(ledger.content.decode(), "incidents")
    lone = staff_client.get(reverse("runs:pipeline-detail", args=[outage["lone"].pk]))
    assert 'id="incidents"' not in lone.content.decode()


def test_the_errors_page_ranks_signatures_over_seven_or_thirty_days(staff_client, outage):
    html = staff_client.get(reverse("runs:errors")).content.decode()
    table = section(html, "signatures")
    # Over 7 days: the shared error (3 failures) before the timeout (1 within the 7 days);
    # over 30 days both have 3, and the 7 days decide.
    assert table.index(DENIED) < table.index(TIMEOUT)
    html = staff_client.get(reverse("runs:errors"), {"rank": "30d"}).content.decode()
    table = section(html, "signatures")
    assert table.index(DENIED) < table.index(TIMEOUT)
    assert failure_signature(TIMEOUT).digest in table
    response = staff_client.get(reverse("runs:errors"), {"rank": "1y"})
    assert response.status_code == 400
    assert "rank: one of 7d, 30d." in response.content.decode()


def test_the_errors_page_ranks_by_the_window_asked_for(staff_client):
    recent, older = PipelineFactory(), PipelineFactory()
    RunFactory(pipeline=recent, status="failed", started_at=hours_ago(1), error_message=DENIED)
    for days in (10, 11, 12):
        RunFactory(
            pipeline=older, status="failed", started_at=hours_ago(24 * days), error_message=TIMEOUT
        )
    seven = section(staff_client.get(reverse("runs:errors")).content.decode(), "signatures")
    assert seven.index(DENIED) < seven.index(TIMEOUT)
    thirty = section(
        staff_client.get(reverse("runs:errors"), {"rank": "30d"}).content.decode(), "signatures"
    )
    assert thirty.index(TIMEOUT) < thirty.index(DENIED)
