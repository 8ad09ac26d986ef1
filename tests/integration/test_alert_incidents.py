"""The incident rule kind: one alert per incident (reporting.q11_incidents), not one per
pipeline; its notifications, silences, maintenance, pages and CSV."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import (
    AlertEvent,
    AlertRule,
    AlertState,
    Channel,
    EventKind,
    MaintenanceWindow,
    Notification,
    NotificationStatus,
    RuleKind,
    Silence,
)
from alerts.notifications import slack_message
from inventory.loading import InventoryError, load_inventory_text
from inventory.models import Platform
from runs.models import RunStatus
from runs.signatures import failure_signature
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory
from tests.integration.test_page_csv import download

pytestmark = pytest.mark.django_db

# Whole seconds: the incident key prints its first failure to the second. The incident views
# read the last 7 days before the database's clock, so every run stays within a few hours of
# this moment; nothing depends on the hour of the day.
NOW = timezone.now().replace(microsecond=0)
DENIED = "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics"


def message(host: str) -> str:
    return f"{DENIED}\nconnection to {host} as user loader"


# Each pipeline's message differs (its host), the cause does not: one signature.
DIGEST = failure_signature(message("db-1.internal:5432")).digest


def minutes_ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fail(pipeline, minutes: float, host: str = "db-1.internal:5432"):
    return RunFactory(
        pipeline=pipeline,
        status=RunStatus.FAILED,
        started_at=minutes_ago(minutes),
        finished_at=minutes_ago(minutes - 0.5),
        error_message=message(host),
    )


def succeed(pipeline, minutes: float):
    return RunFactory(
        pipeline=pipeline,
        status=RunStatus.SUCCESS,
        started_at=minutes_ago(minutes),
        finished_at=minutes_ago(minutes - 0.5),
    )


def outage(clients: int, per_client: int, *, first_minutes_ago: float = 90) -> dict:
    """``clients`` × ``per_client`` pipelines (several platforms) failing with one error, one
    a minute from ``first_minutes_ago`` on."""
    owners = [ClientFactory(slug=f"client-{index}") for index in range(clients)]
    platforms = [Platform.AIRFLOW, Platform.DBT, Platform.FIVETRAN]
    pipelines = [
        PipelineFactory(client=owner, slug=f"load-{index}", platform=platforms[index % 3])
        for owner in owners
        for index in range(per_client)
    ]
    runs = [
        fail(pipeline, first_minutes_ago - index, host=f"db-{index}.internal:5432")
        for index, pipeline in enumerate(pipelines)
    ]
    key = f"signature:{DIGEST}:{stamp(runs[0].started_at)}"
    return {"clients": owners, "pipelines": pipelines, "key": key}


def incident_rule(client, threshold: int, **fields) -> AlertRule:
    return AlertRuleFactory(client=client, kind=RuleKind.INCIDENT, threshold=threshold, **fields)


def evaluate(**kwargs):
    return evaluate_alerts(now=NOW, **kwargs)


@pytest.fixture
def evaluate_and_deliver(django_capture_on_commit_callbacks):
    """An evaluation at NOW whose notifications are delivered as after a commit."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return evaluate(**kwargs)

    return run


def incident_mail() -> list:
    return [email for email in mail.outbox if email.to == ["oncall@example.com"]]


def by_state(payloads: list[dict]) -> Counter:
    """(rule, state) of the generic webhooks' payloads (Slack messages carry blocks instead)."""
    return Counter((p["rule"]["id"], p["state"]) for p in payloads if "blocks" not in p)


def test_twelve_pipelines_failing_with_one_error_notify_each_rule_once(
    webhook_receiver, fast_delivery, evaluate_and_deliver
):
    incident = outage(clients=4, per_client=3)
    first, second, third, fourth = incident["clients"]
    wide = incident_rule(first, 10, channel=Channel.WEBHOOK, target=webhook_receiver.url)
    # A rule naming one pipeline: that pipeline is in the incident, and 12 ≥ 12.
    own = incident_rule(
        second,
        12,
        pipeline=incident["pipelines"][3],
        channel=Channel.SLACK,
        target=webhook_receiver.url + "?slack",
    )
    mailed = incident_rule(third, 2, target="oncall@example.com")
    too_high = incident_rule(fourth, 13, channel=Channel.WEBHOOK, target=webhook_receiver.url)
    bystander = incident_rule(
        ClientFactory(), 2, channel=Channel.WEBHOOK, target=webhook_receiver.url
    )
    # A pipeline rule beside them: one alert (and one email) per pipeline, as before.
    AlertRuleFactory(client=first, threshold=1, target="pipelines@example.com")

    report = evaluate_and_deliver()

    generic = [p for p in webhook_receiver.accepted if "blocks" not in p]
    assert by_state(generic) == Counter({(wide.pk, "firing"): 1})
    [payload] = generic
    assert payload["pipeline"] is None
    assert payload["incident"]["key"] == incident["key"]
    assert (payload["incident"]["pipelines"], payload["incident"]["clients"]) == (12, 4)
    assert payload["incident"]["since"] == minutes_ago(90).isoformat()
    assert payload["incident"]["url"].endswith(f"/incidents/{incident['key']}/")
    assert payload["incident"]["message"] == DENIED
    assert payload["summary"].startswith("12 pipelines of 4 client(s) failing with one error")
    assert f"/incidents/{incident['key']}/|Open in CHM>" in payload["text"]
    assert len(payload["triggering_runs"]) == 10

    [slack] = [p for p in webhook_receiver.accepted if "blocks" in p]
    fields = " ".join(f["text"] for f in slack["blocks"][2]["fields"])
    assert "*Incident*\n" + DENIED in fields
    assert "12 pipelines, 4 client(s)" in fields
    assert slack["blocks"][-1]["elements"][0]["url"].endswith(f"/incidents/{incident['key']}/")
    assert "Pipeline" not in fields

    [email] = incident_mail()
    assert "incident: " + DENIED in email.subject
    assert "Involves: 12 pipelines, 4 client(s)" in email.body
    assert "Incident page: http" in email.body and f"/incidents/{incident['key']}/" in email.body
    html, _ = email.alternatives[0]
    assert f"/incidents/{incident['key']}/" in html and "12 pipelines, 4 client(s)" in html

    incident_alerts = AlertState.objects.filter(rule__kind=RuleKind.INCIDENT)
    assert sorted(incident_alerts.values_list("rule_id", flat=True)) == sorted(
        [wide.pk, own.pk, mailed.pk]
    )
    for alert in incident_alerts:
        assert alert.pipeline_id is None
        assert alert.subject_key == f"incident:{incident['key']}"
        assert alert.subject_label == f"{DENIED} (12 pipelines, 4 clients)"
    assert not AlertState.objects.filter(rule__in=[too_high, bystander]).exists()
    assert (wide.pk, None) in report.fired

    # Two more pipelines fail with the same error: the incident grows, nothing is sent again
    # (the 13-pipeline rule now fires: its incident has just come to involve 13).
    late = [PipelineFactory(client=first, slug=f"late-{index}") for index in range(2)]
    for index, pipeline in enumerate(late):
        fail(pipeline, 30 - index)
    sent_before = len(webhook_receiver.accepted)
    evaluate_and_deliver()
    assert by_state(webhook_receiver.accepted[sent_before:]) == Counter(
        {(too_high.pk, "firing"): 1}
    )
    assert len(incident_mail()) == 1
    assert AlertState.objects.open().filter(rule=wide).count() == 1

    # Every pipeline succeeds since: the incident resolves, and so does each alert, once.
    for pipeline in [*incident["pipelines"], *late]:
        succeed(pipeline, 10)
    sent_before = len(webhook_receiver.accepted)
    evaluate_and_deliver()
    resolved = webhook_receiver.accepted[sent_before:]
    assert by_state(resolved) == Counter({(wide.pk, "resolved"): 1, (too_high.pk, "resolved"): 1})
    [slack_resolved] = [p for p in resolved if "blocks" in p]
    assert slack_resolved["text"].startswith("RESOLVED")
    wide_resolved = next(p for p in resolved if p["rule"]["id"] == wide.pk)
    assert wide_resolved["incident"]["state"] == "resolved"
    assert wide_resolved["incident"]["pipelines"] == 14
    assert len(incident_mail()) == 2 and "RESOLVED" in incident_mail()[1].subject
    assert not AlertState.objects.open().filter(rule__kind=RuleKind.INCIDENT).exists()

    evaluate_and_deliver()
    assert len(webhook_receiver.accepted) == sent_before + 3
    assert not Notification.objects.filter(status=NotificationStatus.PENDING).exists()


def test_one_pipeline_short_of_the_threshold_fires_nothing():
    incident = outage(clients=2, per_client=3)
    rule = incident_rule(incident["clients"][0], 7)
    evaluate(deliver=False)
    assert not AlertState.objects.filter(rule=rule).exists()
    rule.threshold = 6
    rule.save()
    evaluate(deliver=False)
    assert AlertState.objects.filter(rule=rule, resolved_at__isnull=True).count() == 1


def test_a_client_rule_fires_only_for_incidents_involving_its_pipelines():
    incident = outage(clients=3, per_client=1)
    involved = incident_rule(incident["clients"][0], 3)
    elsewhere = ClientFactory()
    PipelineFactory(client=elsewhere)
    bystander = incident_rule(elsewhere, 2)
    # A rule naming a pipeline of its client that is not in the incident.
    quiet = PipelineFactory(client=incident["clients"][1], slug="quiet")
    other_pipeline = incident_rule(incident["clients"][1], 2, pipeline=quiet)
    evaluate(deliver=False)
    assert AlertState.objects.filter(rule=involved).count() == 1
    assert not AlertState.objects.filter(rule__in=[bystander, other_pipeline]).exists()


def test_evaluating_after_ingest_of_one_pipeline_fires_and_resolves_the_incident():
    incident = outage(clients=2, per_client=2)
    # Runs of one of its client's pipelines were ingested: the rule is evaluated whole.
    rule = incident_rule(incident["clients"][1], 4)
    evaluate(deliver=False, pipeline_ids=[incident["pipelines"][2].pk])
    [alert] = AlertState.objects.filter(rule=rule)
    assert alert.is_open
    evaluate(deliver=False, pipeline_ids=[incident["pipelines"][2].pk])
    assert AlertState.objects.filter(rule=rule).count() == 1
    for pipeline in incident["pipelines"]:
        succeed(pipeline, 5)
    evaluate(deliver=False, pipeline_ids=[incident["pipelines"][2].pk])
    alert.refresh_from_db()
    assert not alert.is_open
    assert list(
        AlertEvent.objects.filter(alert=alert).order_by("pk").values_list("kind", flat=True)
    ) == [EventKind.FIRED, EventKind.RESOLVED]


def test_pipelines_under_maintenance_do_not_count_toward_the_threshold():
    incident = outage(clients=2, per_client=3)
    rule = incident_rule(incident["clients"][0], 6)
    MaintenanceWindow.objects.create(
        pipeline=incident["pipelines"][5],
        starts_at=minutes_ago(120),
        ends_at=NOW + dt.timedelta(hours=1),
        created_at=minutes_ago(120),
    )
    evaluate(deliver=False)
    assert not AlertState.objects.filter(rule=rule).exists()
    later = NOW + dt.timedelta(hours=2)
    evaluate_alerts(now=later, deliver=False)
    assert AlertState.objects.filter(rule=rule, resolved_at__isnull=True).count() == 1


def test_an_alert_stays_open_while_its_incident_is_open():
    incident = outage(clients=2, per_client=2)
    rule = incident_rule(incident["clients"][0], 4)
    evaluate(deliver=False)
    # Three of four recover: the incident is still open, so is the alert.
    for pipeline in incident["pipelines"][:3]:
        succeed(pipeline, 5)
    evaluate(deliver=False)
    assert AlertState.objects.open().filter(rule=rule).count() == 1
    succeed(incident["pipelines"][3], 4)
    evaluate(deliver=False)
    assert not AlertState.objects.open().filter(rule=rule).exists()


def test_a_silenced_rule_records_the_incident_without_sending(
    webhook_receiver, fast_delivery, evaluate_and_deliver
):
    incident = outage(clients=2, per_client=2)
    rule = incident_rule(
        incident["clients"][0], 2, channel=Channel.WEBHOOK, target=webhook_receiver.url
    )
    Silence.objects.create(
        rule=rule, starts_at=minutes_ago(5), ends_at=NOW + dt.timedelta(hours=1), created_at=NOW
    )
    evaluate_and_deliver()
    assert webhook_receiver.accepted == []
    [notification] = Notification.objects.filter(rule=rule)
    assert notification.status == NotificationStatus.SUPPRESSED
    assert notification.pipeline_id is None


def test_reminders_follow_the_usual_setting(settings):
    settings.CHM_ALERTS_REMIND_AFTER_MINUTES = 60
    incident = outage(clients=2, per_client=2)
    rule = incident_rule(incident["clients"][0], 2)
    evaluate(deliver=False)
    evaluate_alerts(now=NOW + dt.timedelta(minutes=30), deliver=False)
    evaluate_alerts(now=NOW + dt.timedelta(minutes=61), deliver=False)
    reminder = Notification.objects.filter(rule=rule).order_by("pk").last()
    assert list(
        Notification.objects.filter(rule=rule).order_by("pk").values_list("state", flat=True)
    ) == [
        "firing",
        "reminder",
    ]
    assert reminder.payload["incident"]["key"] == incident["key"]
    assert reminder.payload["summary"].startswith("still firing: 4 pipelines")


# --- validation ------------------------------------------------------------------------------


def test_clean_and_the_loader_refuse_a_threshold_below_two():
    rule = AlertRuleFactory.build(kind=RuleKind.INCIDENT, threshold=1)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean(exclude=["client"])
    assert set(caught.value.message_dict) == {"threshold"}
    text = """\
version: 1
clients:
  - slug: acme
    alert_rules:
      - name: incidents
        kind: incident
        threshold: 1
        target: oncall@example.com
"""
    with pytest.raises(InventoryError) as caught_file:
        load_inventory_text(text=text)
    [(where, message)] = caught_file.value.errors
    assert where.endswith(".threshold")
    assert message in caught.value.message_dict["threshold"]
    assert "at least 2" in message
    assert not AlertRule.objects.exists()
    AlertRuleFactory.build(kind=RuleKind.INCIDENT, threshold=2).full_clean(exclude=["client"])


def test_the_admin_form_names_the_threshold_of_an_incident_rule(staff_client, chm_client):
    form = {
        "client": chm_client.pk,
        "pipeline": "",
        "name": "shared outages",
        "kind": RuleKind.INCIDENT,
        "threshold": 1,
        "severity": "warning",
        "channel": Channel.EMAIL,
        "target": "oncall@example.com",
        "is_enabled": "on",
    }
    response = staff_client.post(reverse("admin:alerts_alertrule_add"), form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "threshold": ["An incident involves at least 2 pipelines: the threshold is at least 2."]
    }
    assert not AlertRule.objects.exists()
    response = staff_client.post(reverse("admin:alerts_alertrule_add"), {**form, "threshold": 2})
    assert response.status_code == 302
    assert AlertRule.objects.get().kind == RuleKind.INCIDENT


def test_the_loader_accepts_an_incident_rule():
    load_inventory_text(
        text="""\
version: 1
clients:
  - slug: acme
    alert_rules:
      - name: shared outages
        kind: incident
        threshold: 5
        channel: webhook
        target: https://hooks.example.com/chm
"""
    )
    rule = AlertRule.objects.get(name="shared outages")
    assert (rule.kind, rule.threshold, rule.pipeline) == (RuleKind.INCIDENT, 5, None)
    assert rule.condition == "a new incident involving 5 or more pipelines"


# --- pages and CSV ---------------------------------------------------------------------------


def test_the_pages_and_csv_show_an_incident_alert(staff_client):
    incident = outage(clients=2, per_client=2)
    rule = incident_rule(incident["clients"][0], 3, name="shared outage")
    evaluate(deliver=False)
    link = reverse("runs:incident-detail", args=[incident["key"]])
    label = f"{DENIED} (4 pipelines, 2 clients)"
    for page in (
        reverse("alerts:firing"),
        reverse("runs:overview"),
        reverse("alerts:rule-history", args=[rule.pk]),
    ):
        response = staff_client.get(page)
        assert response.status_code == 200, page
        assert f'href="{link}"' in response.content.decode(), page
    assert staff_client.get(link).status_code == 200

    _, rows = download(staff_client, "firing-alerts")
    [row] = rows
    assert (row["rule"], row["pipeline_id"], row["pipeline"]) == ("shared outage", "", label)
    assert row["incident_key"] == incident["key"]
    _, rows = download(staff_client, "alert-history", rule=rule.pk)
    assert [(r["kind"], r["subject"], r["subject_key"]) for r in rows] == [
        ("fired", label, f"incident:{incident['key']}")
    ]


def test_a_slack_message_for_a_resolved_incident_that_left_the_views_still_links_it():
    payload = {
        "state": "resolved",
        "text": "RESOLVED",
        "summary": "resolved",
        "rule": {"id": 1, "name": "r", "severity": "warning", "condition": "c", "url": "u"},
        "client": {"name": "Acme"},
        "pipeline": None,
        "incident": {
            "key": "signature:x:2026-01-01T00:00:00Z",
            "label": "boom (3 pipelines, 1 client)",
            "message": "boom (3 pipelines, 1 client)",
            "url": "https://chm.example.com/incidents/signature:x:2026-01-01T00:00:00Z/",
            "pipelines": None,
            "clients": None,
            "since": None,
        },
        "triggering_runs": [],
        "firing_since": None,
    }
    message = slack_message(payload)
    assert "incident: boom" in message["blocks"][0]["text"]["text"]
    assert message["blocks"][-1]["elements"][0]["url"] == payload["incident"]["url"]
