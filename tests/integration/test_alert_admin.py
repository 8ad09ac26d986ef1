from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import Channel
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_the_rule_list_shows_firing_state_and_last_notification(
    staff_client, pipeline, django_capture_on_commit_callbacks
):
    firing = AlertRuleFactory(client=pipeline.client, name="orders failing", threshold=2)
    AlertRuleFactory(client=pipeline.client, name="quiet rule", threshold=50)
    for offset in (0, 1):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=timezone.now() - dt.timedelta(minutes=10 - offset),
        )
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts()

    response = staff_client.get(reverse("admin:alerts_alertrule_changelist"))
    assert response.status_code == 200
    rows = {
        line.split("</th>")[0]: line
        for line in response.content.decode().split('<th class="field-name">')[1:]
    }
    firing_row = next(row for name, row in rows.items() if "orders failing" in name)
    quiet_row = next(row for name, row in rows.items() if "quiet rule" in name)
    assert "<strong>FIRING</strong> acme/orders-etl" in firing_row
    assert "firing for orders-etl" in firing_row
    assert ">ok<" in quiet_row
    assert ">never<" in quiet_row
    detail = staff_client.get(reverse("admin:alerts_alertrule_change", args=[firing.pk]))
    assert detail.status_code == 200


def test_the_test_notification_action_sends_to_the_rule_target(staff_client, pipeline):
    rule = AlertRuleFactory(client=pipeline.client, name="orders failing", target="ops@example.com")
    response = staff_client.post(
        reverse("admin:alerts_alertrule_changelist"),
        {"action": "send_test_notifications", "_selected_action": [rule.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "TEST" in mail.outbox[0].subject
    assert "orders failing" in mail.outbox[0].subject
    assert "test notification sent to ops@example.com" in response.content.decode()
    rule.refresh_from_db()
    assert rule.firing == {} and rule.last_notified_at is None


def test_the_test_notification_action_reports_a_failed_webhook(
    staff_client, webhook_receiver, fast_delivery
):
    pipeline = PipelineFactory(slug="orders")
    hook = AlertRuleFactory(
        client=pipeline.client, name="hook", channel=Channel.WEBHOOK, target=webhook_receiver.url
    )
    webhook_receiver.plan = [500, 500]
    response = staff_client.post(
        reverse("admin:alerts_alertrule_changelist"),
        {"action": "send_test_notifications", "_selected_action": [hook.pk]},
        follow=True,
    )
    # The admin capitalises the first letter of a message.
    assert "Hook: not delivered" in response.content.decode()
    assert "HTTP 500" in response.content.decode()
    response = staff_client.post(
        reverse("admin:alerts_alertrule_changelist"),
        {"action": "send_test_notifications", "_selected_action": [hook.pk]},
        follow=True,
    )
    assert [payload["state"] for payload in webhook_receiver.accepted] == ["test"]
    assert webhook_receiver.accepted[0]["client"]["slug"] == pipeline.client.slug
