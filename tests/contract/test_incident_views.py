"""Contract of the Q11 views: failures grouped into incidents (reporting.q11_incidents and
reporting.q11_incident_pipelines) and failure signatures ranked (reporting.q11_error_signatures),
on small hand-built histories with known answers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inventory.models import Platform
from runs.signatures import failure_signature
from tests.contract.test_reporting_views import rows
from tests.factories import ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

DENIED = "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics"
DENIED_JDBC = "org.postgresql.util.PSQLException: ERROR: permission denied for schema analytics"
DENIED_STAGING = "psycopg2.errors.InsufficientPrivilege: permission denied for schema staging"
DENIED_KEY = failure_signature(DENIED).digest


def hours_ago(hours: float) -> dt.datetime:
    # Whole seconds: the incident key prints its first failure to the second.
    return (timezone.now() - dt.timedelta(hours=hours)).replace(microsecond=0)


def fail(pipeline, hours: float, message: str):
    return RunFactory(
        pipeline=pipeline, status="failed", started_at=hours_ago(hours), error_message=message
    )


def succeed(pipeline, hours: float):
    return RunFactory(pipeline=pipeline, status="success", started_at=hours_ago(hours))


def incidents() -> list[dict]:
    return rows("q11_incidents", "true ORDER BY first_seen")


def test_one_signature_across_pipelines_and_clients_is_one_incident():
    acme, globex = ClientFactory(), ClientFactory()
    loads = [PipelineFactory(client=acme, platform=Platform.DBT) for _ in range(2)]
    report = PipelineFactory(client=globex, platform=Platform.AIRFLOW)
    first = fail(loads[0], 5, DENIED)
    fail(loads[1], 4.5, DENIED_JDBC)  # another client library, the same cause
    last = fail(report, 4, DENIED + "\nLINE 1: select * from analytics.orders")  # noqa: S608

    (incident,) = incidents()
    stamp = first.started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert incident["incident_key"] == f"signature:{DENIED_KEY}:{stamp}"
    assert incident["kind"] == "signature"
    assert incident["failure_signature"] == DENIED_KEY
    assert incident["platform"] is None
    assert incident["platforms"] == "airflow, dbt"
    assert (incident["pipelines"], incident["clients"], incident["failures"]) == (3, 2, 3)
    assert (incident["first_seen"], incident["last_seen"]) == (first.started_at, last.started_at)
    assert (incident["state"], incident["open_pipelines"]) == ("open", 3)
    assert (incident["example_run_id"], incident["example_error"]) == (last.pk, last.error_message)
    members = rows("q11_incident_pipelines", "incident_key = %s", (incident["incident_key"],))
    assert {row["pipeline_id"] for row in members} == {loads[0].pk, loads[1].pk, report.pk}


def test_one_pipeline_failing_again_and_again_is_no_incident():
    pipeline = PipelineFactory()
    for hours in (5, 4, 3, 2):
        fail(pipeline, hours, DENIED)
    assert incidents() == []


def test_failures_more_than_two_hours_apart_are_not_grouped():
    fail(PipelineFactory(), 8, DENIED)
    fail(PipelineFactory(), 5.9, DENIED)
    assert incidents() == []


def test_a_chain_of_failures_each_within_two_hours_of_the_last_is_one_incident():
    for hours in (9, 7.5, 6, 4.5):
        fail(PipelineFactory(), hours, DENIED)
    (incident,) = incidents()
    assert incident["pipelines"] == 4


def test_look_alike_messages_naming_other_objects_stay_apart():
    analytics = [PipelineFactory() for _ in range(2)]
    staging = [PipelineFactory() for _ in range(2)]
    for pipeline in analytics:
        fail(pipeline, 3, DENIED)
    for pipeline in staging:
        fail(pipeline, 3, DENIED_STAGING)
    found = incidents()
    assert len(found) == 2
    members = {
        row["incident_key"]: {member["pipeline_id"] for member in rows(
            "q11_incident_pipelines", "incident_key = %s", (row["incident_key"],)
        )}
        for row in found
    }  # fmt: skip
    assert sorted(members.values(), key=min) == sorted(
        [{p.pk for p in analytics}, {p.pk for p in staging}], key=min
    )


def test_five_pipelines_of_one_platform_failing_together_are_one_platform_incident():
    pipelines = [PipelineFactory(platform=Platform.FIVETRAN) for _ in range(5)]
    messages = [
        "Connection timed out",
        "503 Service Unavailable",
        "SSL handshake failed",
        "Sync failed: upstream API returned an empty page",
        "Unexpected EOF from source",
    ]
    for n, (pipeline, message) in enumerate(zip(pipelines, messages, strict=True)):
        fail(pipeline, 3 - n * 0.25, message)
    fail(PipelineFactory(platform=Platform.AIRFLOW), 2.5, "Task exited with return code 1")

    (incident,) = incidents()
    assert incident["incident_key"].startswith("platform:fivetran:")
    assert (incident["kind"], incident["platform"], incident["pipelines"]) == (
        "platform",
        "fivetran",
        5,
    )
    assert incident["failure_signature"] is None


def test_four_pipelines_of_one_platform_are_not_enough():
    for n in range(4):
        fail(PipelineFactory(platform=Platform.FIVETRAN), 3 - n * 0.25, f"error kind {'abcd'[n]}")
    assert incidents() == []


def test_an_incident_stays_open_until_every_pipeline_succeeded_since():
    pipelines = [PipelineFactory() for _ in range(3)]
    for pipeline in pipelines:
        fail(pipeline, 6, DENIED)
    succeed(pipelines[0], 5)
    succeed(pipelines[1], 4)
    succeed(pipelines[2], 7)  # before the failure: does not count
    (incident,) = incidents()
    assert (incident["state"], incident["open_pipelines"]) == ("open", 1)
    by_pipeline = {
        row["pipeline_id"]: row
        for row in rows("q11_incident_pipelines", "incident_key = %s", (incident["incident_key"],))
    }
    assert by_pipeline[pipelines[0].pk]["recovered_at"] is not None
    assert by_pipeline[pipelines[2].pk]["is_open"] is True

    succeed(pipelines[2], 1)
    (incident,) = incidents()
    assert (incident["state"], incident["open_pipelines"]) == ("resolved", 0)


def test_failures_older_than_seven_days_form_no_incident():
    for _ in range(3):
        fail(PipelineFactory(), 24 * 7 + 1, DENIED)
    assert incidents() == []


def test_inactive_pipelines_are_left_out():
    fail(PipelineFactory(), 3, DENIED)
    fail(PipelineFactory(is_active=False), 3, DENIED)
    assert incidents() == []


def test_error_signatures_count_seven_and_thirty_days_with_an_example():
    first, second, third = (PipelineFactory() for _ in range(3))
    oldest = fail(first, 24 * 40, DENIED)  # before the 30 days: first seen, not counted
    fail(first, 24 * 20, DENIED)
    fail(second, 24 * 10, DENIED_JDBC)
    fail(second, 24 * 2, DENIED)
    latest = fail(third, 1, DENIED_JDBC)
    fail(third, 2, DENIED_STAGING)
    succeed(third, 0.5)

    by_signature = {row["failure_signature"]: row for row in rows("q11_error_signatures")}
    denied = by_signature[DENIED_KEY]
    assert (denied["failures_7d"], denied["failures_30d"]) == (2, 4)
    assert (denied["pipelines_7d"], denied["pipelines_30d"], denied["clients_30d"]) == (2, 3, 3)
    assert denied["first_seen"] == oldest.started_at
    assert denied["last_seen"] == latest.started_at
    assert (denied["example_run_id"], denied["example_error"]) == (latest.pk, DENIED_JDBC)
    staging = by_signature[failure_signature(DENIED_STAGING).digest]
    assert (staging["failures_7d"], staging["failures_30d"]) == (1, 1)
    assert len(by_signature) == 2
