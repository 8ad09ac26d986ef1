"""Q11's version 2 (runs/sql/views/q11_incident_pipelines_v2.sql, q11_incidents_v2.sql) answers
exactly as version 1 did.

Version 2 reads the recent failed runs from an index alone and each message by run id at the
end. The history below reaches every part of the grouping: signature incidents across
pipelines and clients, a chain of failures each within two hours of the last, a platform
incident, failures that share a start (ordered by id), incidents open and resolved, a pipeline
in two incidents, failures with no message, an inactive pipeline, and failures just inside and
just outside the seven days, on a fixed clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from inventory.models import Platform
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.support.view_versions import differences, install_temporary_version, view_definition

pytestmark = pytest.mark.django_db

DENIED = "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics"
MISSING = 'relation "raw.orders" does not exist'
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def clock() -> dt.datetime:
    return timezone.now().replace(microsecond=250000) - HOUR


@pytest.fixture
def history(clock) -> None:
    def fail(pipeline, at: dt.datetime, message: str = DENIED):
        RunFactory(pipeline=pipeline, status="failed", started_at=at, error_message=message)

    def succeed(pipeline, at: dt.datetime):
        RunFactory(pipeline=pipeline, status="success", started_at=at)

    acme, globex = ClientFactory(), ClientFactory()
    loads = [PipelineFactory(client=acme, platform=Platform.DBT) for _ in range(3)]
    report = PipelineFactory(client=globex, platform=Platform.AIRFLOW)
    # A chain 1.5 h apart each, one start shared by two pipelines (ordered by id).
    fail(loads[0], clock - 10 * HOUR)
    fail(loads[1], clock - 8.5 * HOUR)
    fail(report, clock - 8.5 * HOUR, DENIED + "\nLINE 1: select 1")
    fail(loads[2], clock - 7 * HOUR)
    succeed(loads[0], clock - 6 * HOUR)  # recovered; the others stay open
    # The same cause a day later: another incident of loads[1] and report, resolved.
    fail(loads[1], clock - 34 * HOUR, MISSING)
    fail(report, clock - 33 * HOUR, MISSING)
    succeed(loads[1], clock - 30 * HOUR)
    succeed(report, clock - 30 * HOUR)
    # Five fivetran pipelines failing together, each with its own message or none.
    fivetran = [PipelineFactory(platform=Platform.FIVETRAN) for _ in range(6)]
    messages = ["", "Connection timed out", "503 Service Unavailable", "SSL handshake failed"]
    for n, pipeline in enumerate(fivetran[:5]):
        fail(pipeline, clock - (3 - n * 0.25) * HOUR, (messages + ["Unexpected EOF"])[n])
    fail(fivetran[5], clock - 30 * HOUR, "lonely")
    # Left out: an inactive pipeline, and failures just outside the window.
    fail(PipelineFactory(client=acme, is_active=False), clock - 9 * HOUR)
    edge = clock - dt.timedelta(days=7)
    fail(PipelineFactory(client=globex), edge - dt.timedelta(microseconds=1), MISSING)
    # Just inside it: the oldest failures of an incident.
    for pipeline in PipelineFactory.create_batch(2, client=globex):
        fail(pipeline, edge + HOUR, "Out of memory: Killed process 4242 (python)")


def incidents_reading(pipelines_view: str, version: int) -> str:
    """Version ``version`` of q11_incidents as a temporary view over ``pipelines_view``."""
    return install_temporary_version(
        "q11_incidents",
        version,
        replacing={"FROM reporting.q11_incident_pipelines i": f"FROM {pipelines_view} i"},
    )


def test_version_2_answers_as_version_1_on_the_same_clock(clock, history):
    pipelines_v1 = install_temporary_version("q11_incident_pipelines", 1, clock=clock)
    pipelines_v2 = install_temporary_version("q11_incident_pipelines", 2, clock=clock)
    incidents_v1 = incidents_reading(pipelines_v1, 1)
    incidents_v2 = incidents_reading(pipelines_v2, 2)

    assert differences(pipelines_v1, pipelines_v2) == []
    assert differences(incidents_v1, incidents_v2) == []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kind, state, count(*) FROM {incidents_v2} GROUP BY 1, 2")  # noqa: S608
        kinds = {(kind, state): count for kind, state, count in cursor.fetchall()}
    # Every kind of incident is there, open and resolved.
    assert kinds == {
        ("signature", "open"): 2,
        ("signature", "resolved"): 1,
        ("platform", "open"): 1,
    }


def test_the_installed_views_answer_as_version_1(history):
    pipelines_v1 = install_temporary_version("q11_incident_pipelines", 1)
    incidents_v1 = incidents_reading(pipelines_v1, 1)
    # One statement reads both, so both see the same statement_timestamp().
    assert differences("reporting.q11_incident_pipelines", pipelines_v1) == []
    assert differences("reporting.q11_incidents", incidents_v1) == []


@pytest.mark.django_db(transaction=True)
def test_migrating_back_restores_version_1():
    def version(name: str, number: int) -> str:
        return view_definition(install_temporary_version(name, number))

    assert view_definition("reporting.q11_incident_pipelines") == version(
        "q11_incident_pipelines", 2
    )
    call_command("migrate", "runs", "0019", verbosity=0)
    try:
        assert view_definition("reporting.q11_incident_pipelines") == version(
            "q11_incident_pipelines", 1
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'run_failed_%%'")
            assert {name for (name,) in cursor.fetchall()} == {
                "run_failed_signature",
                "run_failed_started_incl",
            }
    finally:
        call_command("migrate", verbosity=0)
    assert view_definition("reporting.q11_incidents") == version("q11_incidents", 2)
