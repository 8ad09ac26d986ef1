"""Acknowledging, silencing and maintenance windows, from the alert pages, holding across
evaluations; reminders of alerts nobody acknowledged."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from alerts import actions
from alerts.evaluation import evaluate_alerts
from alerts.models import (
    AlertEvent,
    AlertState,
    EventKind,
    MaintenanceWindow,
    Notification,
    NotificationStatus,
    Silence,
)
from alerts.notifications import deliver_pending_notifications
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(second=0, microsecond=0)
MINUTE = dt.timedelta(minutes=1)


def fail_twice(pipeline, *, at: dt.datetime = NOW) -> None:
    for offset in (10, 9):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=at - offset * MINUTE,
            error_message="relation orders does not exist",
        )


def succeed(pipeline, *, at: dt.datetime) -> None:
    RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=at - MINUTE)


def evaluate(at: dt.datetime) -> None:
    evaluate_alerts(now=at, deliver=False)
    deliver_pending_notifications()


def sent(rule) -> list[str]:
    return list(
        Notification.objects.filter(rule=rule, status=NotificationStatus.DELIVERED)
        .order_by("pk")
        .values_list("state", flat=True)
    )


@pytest.fixture
def rule(pipeline):
    return AlertRuleFactory(client=pipeline.client, pipeline=pipeline, name="orders", threshold=2)


@pytest.fixture
def remind_hourly(settings):
    settings.CHM_ALERTS_REMIND_AFTER_MINUTES = 60


# --- reminders and acknowledging ----------------------------------------------------------------


def test_an_unacknowledged_alert_is_notified_again_after_the_interval(
    rule, pipeline, remind_hourly
):
    fail_twice(pipeline)
    evaluate(NOW)
    evaluate(NOW + 59 * MINUTE)
    assert sent(rule) == ["firing"]
    evaluate(NOW + 60 * MINUTE)
    evaluate(NOW + 61 * MINUTE)
    assert sent(rule) == ["firing", "reminder"]
    assert "REMINDER: STILL FIRING" in mail.outbox[-1].subject
    evaluate(NOW + 120 * MINUTE)
    assert sent(rule) == ["firing", "reminder", "reminder"]


def test_reminders_can_be_turned_off(rule, pipeline, settings):
    settings.CHM_ALERTS_REMIND_AFTER_MINUTES = 0
    fail_twice(pipeline)
    evaluate(NOW)
    evaluate(NOW + dt.timedelta(days=2))
    assert sent(rule) == ["firing"]


def test_acknowledging_stops_the_reminders_and_the_page_shows_who(
    rule, pipeline, remind_hourly, staff_client, staff_user
):
    fail_twice(pipeline)
    evaluate(NOW)
    [alert] = AlertState.objects.all()
    page = reverse("runs:pipeline-detail", args=[pipeline.pk])
    response = staff_client.post(
        reverse("alerts:acknowledge", args=[alert.pk]), {"next": page}, follow=True
    )
    assert response.redirect_chain == [(page, 302)]
    body = response.content.decode()
    assert "acknowledged</span> by oncall" in body
    assert "Acknowledged: orders on acme/orders-etl." in body

    for minutes in (60, 120, 600):
        evaluate(NOW + minutes * MINUTE)
    assert sent(rule) == ["firing"]
    # Its resolution is still news.
    succeed(pipeline, at=NOW + 700 * MINUTE)
    evaluate(NOW + 700 * MINUTE)
    assert sent(rule) == ["firing", "resolved"]
    kinds = AlertEvent.objects.filter(alert=alert).order_by("pk").values_list("kind", flat=True)
    assert list(kinds) == [EventKind.FIRED, EventKind.ACKNOWLEDGED, EventKind.RESOLVED]


def test_acknowledging_twice_says_who_did_it_first(rule, pipeline, staff_client, django_user_model):
    fail_twice(pipeline)
    evaluate(NOW)
    [alert] = AlertState.objects.all()
    first = django_user_model.objects.create_user("first-responder")
    actions.acknowledge(alert_id=alert.pk, user=first, at=NOW)
    response = staff_client.post(reverse("alerts:acknowledge", args=[alert.pk]))
    assert response.status_code == 409
    assert "Already acknowledged by first-responder" in response.content.decode()
    assert AlertState.objects.get().acknowledged_by == first


def test_a_resolved_or_unknown_alert_cannot_be_acknowledged(rule, pipeline, staff_client):
    fail_twice(pipeline)
    evaluate(NOW)
    succeed(pipeline, at=NOW + MINUTE)
    evaluate(NOW + MINUTE)
    [alert] = AlertState.objects.all()
    response = staff_client.post(reverse("alerts:acknowledge", args=[alert.pk]))
    assert response.status_code == 409 and "resolved" in response.content.decode()
    assert staff_client.post(reverse("alerts:acknowledge", args=[alert.pk + 1])).status_code == 404


def test_a_new_firing_after_a_resolution_needs_a_new_acknowledgement(rule, pipeline, staff_user):
    fail_twice(pipeline)
    evaluate(NOW)
    actions.acknowledge(alert_id=AlertState.objects.get().pk, user=staff_user, at=NOW)
    succeed(pipeline, at=NOW + 5 * MINUTE)
    evaluate(NOW + 5 * MINUTE)
    fail_twice(pipeline, at=NOW + 20 * MINUTE)
    evaluate(NOW + 20 * MINUTE)
    alerts = list(AlertState.objects.order_by("pk"))
    assert [a.resolved_at is None for a in alerts] == [False, True]
    assert alerts[1].acknowledged_at is None


def test_acknowledging_needs_the_csrf_token(rule, pipeline, staff_user):
    fail_twice(pipeline)
    evaluate(NOW)
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    alert = AlertState.objects.get()
    assert browser.post(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 403
    assert AlertState.objects.get().acknowledged_at is None


# --- silences ---------------------------------------------------------------------------------


def test_a_silenced_pipeline_notifies_nobody_and_still_shows_as_silenced(
    rule, pipeline, staff_client, remind_hourly
):
    response = staff_client.post(
        reverse("alerts:silences"),
        {
            "pipeline": "acme/orders-etl",
            "until": (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "source system down over the weekend",
        },
    )
    assert response.status_code == 302
    now = timezone.now()
    fail_twice(pipeline, at=now)
    evaluate(now)
    evaluate(now + 3 * 60 * MINUTE)  # reminders are silenced too

    assert mail.outbox == []
    [suppressed] = Notification.objects.filter(rule=rule)
    assert suppressed.status == NotificationStatus.SUPPRESSED
    assert suppressed.error.startswith("silenced until")
    section = staff_client.get(reverse("runs:overview")).content.decode()
    section = section.split('id="firing-alerts"')[1].split("</section>")[0]
    assert "orders" in section and "silenced</span> until" in section
    history = staff_client.get(reverse("alerts:pipeline-history", args=[pipeline.pk]))
    assert "source system down over the weekend" in history.content.decode()


def test_a_silence_of_a_rule_covers_all_its_pipelines_and_ends_on_time(rule, pipeline, staff_user):
    until = NOW + 30 * MINUTE
    actions.silence(rule=rule, pipeline=None, until=until, reason="", user=staff_user, at=NOW)
    fail_twice(pipeline)
    evaluate(NOW)
    assert mail.outbox == []
    # After the silence, its transitions are notified again.
    succeed(pipeline, at=until + MINUTE)
    evaluate(until + MINUTE)
    assert sent(rule) == ["resolved"]


def test_ending_a_silence_early(rule, pipeline, staff_client, staff_user):
    silence = actions.silence(
        rule=rule,
        pipeline=None,
        until=timezone.now() + dt.timedelta(hours=4),
        reason="",
        user=staff_user,
        at=timezone.now(),
    )
    response = staff_client.post(reverse("alerts:end-silence", args=[silence.pk]))
    assert response.status_code == 302
    assert not Silence.objects.active(timezone.now()).exists()
    again = staff_client.post(reverse("alerts:end-silence", args=[silence.pk]))
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("form", "field_error"),
    [
        ({"pipeline": "acme/nope", "until": "2099-01-01T00:00"}, "No such pipeline"),
        ({"rule": "999999", "until": "2099-01-01T00:00"}, "No alert rule has the id 999999"),
        ({"until": "2099-01-01T00:00"}, "Choose a rule, a pipeline, or both."),
        ({"pipeline": "acme/orders-etl", "until": "2001-01-01T00:00"}, "must end in the future"),
        ({"pipeline": "acme/orders-etl", "until": "next friday"}, "Enter a valid date/time."),
    ],
)
def test_a_bad_silence_is_refused_naming_the_field(staff_client, pipeline, form, field_error):
    response = staff_client.post(reverse("alerts:silences"), form)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert not Silence.objects.exists()


# --- maintenance windows ----------------------------------------------------------------------


def test_no_alert_fires_during_maintenance_and_runs_are_still_ingested(
    rule, pipeline, staff_client
):
    from runs.ingest import ingest_runs

    start = timezone.now().replace(second=0, microsecond=0)
    response = staff_client.post(
        reverse("alerts:maintenance"),
        {
            "client": "acme",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "warehouse upgrade",
        },
    )
    assert response.status_code == 302
    items = [
        {
            "pipeline": "orders-etl",
            "external_run_id": f"maintenance-{index}",
            "status": "failed",
            "started_at": (start + index * MINUTE).isoformat(),
            "finished_at": (start + index * MINUTE + dt.timedelta(seconds=30)).isoformat(),
        }
        for index in range(2)
    ]
    result = ingest_runs(client=pipeline.client, items=items)
    assert result.summary["created"] == 2

    evaluate(start + 5 * MINUTE)
    assert not AlertState.objects.exists() and mail.outbox == []
    # The window is over and the pipeline still fails: now it fires.
    evaluate(start + dt.timedelta(hours=2))
    assert AlertState.objects.open().count() == 1
    assert sent(rule) == ["firing"]


def test_an_alert_firing_before_maintenance_is_kept_not_resolved(rule, pipeline, staff_user):
    fail_twice(pipeline)
    evaluate(NOW)
    actions.schedule_maintenance(
        client=None,
        pipeline=pipeline,
        starts_at=NOW + MINUTE,
        ends_at=NOW + 60 * MINUTE,
        reason="",
        user=staff_user,
        at=NOW,
    )
    # A success during the window does not resolve it (nobody watches the pipeline then) …
    succeed(pipeline, at=NOW + 10 * MINUTE)
    evaluate(NOW + 10 * MINUTE)
    assert AlertState.objects.open().count() == 1
    # … the first evaluation after the window does.
    evaluate(NOW + 60 * MINUTE)
    assert not AlertState.objects.open().exists()
    assert sent(rule) == ["firing", "resolved"]


def test_ending_maintenance_early_and_bad_windows(staff_client, pipeline, staff_user):
    window = actions.schedule_maintenance(
        client=pipeline.client,
        pipeline=None,
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(hours=3),
        reason="",
        user=staff_user,
        at=timezone.now(),
    )
    assert staff_client.post(reverse("alerts:end-maintenance", args=[window.pk])).status_code == 302
    assert not MaintenanceWindow.objects.active(timezone.now()).exists()

    both = staff_client.post(
        reverse("alerts:maintenance"),
        {
            "client": "acme",
            "pipeline": "acme/orders-etl",
            "starts_at": "2099-01-01T00:00",
            "ends_at": "2099-01-01T02:00",
        },
    )
    assert both.status_code == 400 and "Choose a client or a pipeline" in both.content.decode()
    backwards = staff_client.post(
        reverse("alerts:maintenance"),
        {"client": "acme", "starts_at": "2099-01-01T02:00", "ends_at": "2099-01-01T00:00"},
    )
    assert backwards.status_code == 400 and "ends after it starts" in backwards.content.decode()
    assert MaintenanceWindow.objects.count() == 1


# --- history ------------------------------------------------------------------------------------


def test_the_history_pages_list_transitions_with_filters(rule, pipeline, staff_client, staff_user):
    fail_twice(pipeline)
    evaluate(NOW)
    actions.acknowledge(alert_id=AlertState.objects.get().pk, user=staff_user, at=NOW + MINUTE)
    succeed(pipeline, at=NOW + 5 * MINUTE)
    evaluate(NOW + 5 * MINUTE)

    page = staff_client.get(reverse("alerts:rule-history", args=[rule.pk])).content.decode()
    events = page.split('id="events"')[1].split("</section>")[0]
    assert [kind in events for kind in ("Fired", "Acknowledged", "Resolved")] == [True] * 3
    told = page.split('id="notifications"')[1].split("</section>")[0]
    assert "delivered" in told and "Email" in told

    only_fired = staff_client.get(
        reverse("alerts:pipeline-history", args=[pipeline.pk]), {"kind": "fired"}
    ).content.decode()
    events = only_fired.split('id="events"')[1].split("</section>")[0]
    assert "Fired" in events and "Resolved" not in events
    later = staff_client.get(
        reverse("alerts:pipeline-history", args=[pipeline.pk]),
        {"since": (NOW + 2 * MINUTE).isoformat()},
    ).content.decode()
    events = later.split('id="events"')[1].split("</section>")[0]
    assert "Resolved" in events and "Fired" not in events

    bad = staff_client.get(reverse("alerts:rule-history", args=[rule.pk]), {"since": "yesterday"})
    assert bad.status_code == 400 and "since:" in bad.content.decode()
