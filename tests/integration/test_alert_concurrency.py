"""Two evaluators at the same time, each with its own database connection."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import (
    AlertEvent,
    AlertRule,
    AlertState,
    Channel,
    EventKind,
    Notification,
    NotificationStatus,
    RuleKind,
)
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db(transaction=True)

EVALUATORS = 2


def evaluate_at_once() -> None:
    barrier = threading.Barrier(EVALUATORS)
    errors: list[BaseException] = []

    def evaluator() -> None:
        try:
            barrier.wait(timeout=10)
            evaluate_alerts()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluator) for _ in range(EVALUATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def test_two_evaluators_notify_each_transition_exactly_once(webhook_receiver, fast_delivery):
    client = ClientFactory(slug="acme")
    pipelines = [PipelineFactory(client=client, slug=f"etl-{index}") for index in range(4)]
    started = timezone.now() - dt.timedelta(hours=1)
    for pipeline in pipelines:
        for offset in range(3):
            RunFactory(
                pipeline=pipeline,
                status=RunStatus.FAILED,
                started_at=started + dt.timedelta(minutes=offset),
            )
    hooks = [
        AlertRuleFactory(client=client, threshold=2, channel=Channel.WEBHOOK, target=url)
        for url in (webhook_receiver.url, webhook_receiver.url + "?team=2")
    ]
    mailed = AlertRuleFactory(client=client, pipeline=pipelines[0], threshold=3)

    evaluate_at_once()

    expected_firing = {(rule.pk, pipeline.pk) for rule in hooks for pipeline in pipelines}
    sent = Counter(
        (payload["rule"]["id"], payload["pipeline"]["id"], payload["state"])
        for payload in webhook_receiver.accepted
    )
    assert sent == Counter({(*pair, "firing"): 1 for pair in expected_firing})
    assert len(mail.outbox) == 1
    assert not Notification.objects.filter(status=NotificationStatus.PENDING).exists()
    assert AlertRule.objects.get(pk=mailed.pk).firing_pipeline_ids == [pipelines[0].pk]
    # One alert and one "fired" in the history per pair, whoever recorded it.
    assert AlertState.objects.count() == len(expected_firing) + 1
    assert AlertEvent.objects.filter(kind=EventKind.FIRED).count() == len(expected_firing) + 1

    # Every pipeline recovers; both evaluators see it at once again.
    for pipeline in pipelines:
        RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=timezone.now())
    evaluate_at_once()

    sent = Counter(
        (payload["rule"]["id"], payload["pipeline"]["id"], payload["state"])
        for payload in webhook_receiver.accepted
    )
    assert sent == Counter(
        {(*pair, state): 1 for pair in expected_firing for state in ("firing", "resolved")}
    )
    assert [message.subject.split()[1] for message in mail.outbox] == ["FIRING", "RESOLVED"]
    assert not AlertState.objects.open().exists()
    assert AlertEvent.objects.filter(kind=EventKind.RESOLVED).count() == len(expected_firing) + 1
    assert Notification.objects.filter(status=NotificationStatus.DELIVERED).count() == 2 * (
        len(expected_firing) + 1
    )


def test_two_evaluators_send_one_reminder_per_unacknowledged_alert(
    webhook_receiver, fast_delivery, settings
):
    settings.CHM_ALERTS_REMIND_AFTER_MINUTES = 60
    client = ClientFactory(slug="acme")
    pipelines = [PipelineFactory(client=client, slug=f"etl-{index}") for index in range(3)]
    for pipeline in pipelines:
        for offset in range(2):
            RunFactory(
                pipeline=pipeline,
                status=RunStatus.FAILED,
                started_at=timezone.now() - dt.timedelta(hours=3, minutes=offset),
            )
    AlertRuleFactory(
        client=client, threshold=2, channel=Channel.WEBHOOK, target=webhook_receiver.url
    )
    evaluate_at_once()
    assert len(webhook_receiver.accepted) == 3
    # Two hours later nobody has acknowledged them: both evaluators see the reminders due.
    AlertState.objects.update(last_notified_at=timezone.now() - dt.timedelta(hours=2))
    evaluate_at_once()

    reminders = [p for p in webhook_receiver.accepted if p.get("reminder")]
    assert sorted(p["pipeline"]["id"] for p in reminders) == sorted(p.pk for p in pipelines)
    assert AlertEvent.objects.filter(kind=EventKind.REMINDED).count() == 3


def test_two_evaluators_notify_an_incident_once_per_transition(webhook_receiver, fast_delivery):
    clients = [ClientFactory(slug=f"client-{index}") for index in range(3)]
    pipelines = [
        PipelineFactory(client=client, slug=f"load-{index}")
        for client in clients
        for index in range(2)
    ]
    started = timezone.now() - dt.timedelta(hours=1)
    for offset, pipeline in enumerate(pipelines):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=started + dt.timedelta(minutes=offset),
            error_message=f"permission denied for schema analytics (host db-{offset})",
        )
    rules = [
        AlertRuleFactory(
            client=client,
            kind=RuleKind.INCIDENT,
            threshold=6,
            channel=Channel.WEBHOOK,
            target=webhook_receiver.url,
        )
        for client in clients[:2]
    ]

    evaluate_at_once()

    sent = Counter((p["rule"]["id"], p["state"]) for p in webhook_receiver.accepted)
    assert sent == Counter({(rule.pk, "firing"): 1 for rule in rules})
    assert {p["incident"]["pipelines"] for p in webhook_receiver.accepted} == {6}
    assert AlertState.objects.count() == 2
    assert AlertEvent.objects.filter(kind=EventKind.FIRED).count() == 2

    for pipeline in pipelines:
        RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=timezone.now())
    evaluate_at_once()

    sent = Counter((p["rule"]["id"], p["state"]) for p in webhook_receiver.accepted)
    assert sent == Counter(
        {(rule.pk, state): 1 for rule in rules for state in ("firing", "resolved")}
    )
    assert not AlertState.objects.open().exists()
    assert AlertEvent.objects.filter(kind=EventKind.RESOLVED).count() == 2
