from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import AlertRule, AlertState, Channel, Notification
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, AlertStateFactory, PipelineFactory, RunFactory

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
    # A test changes no state and is not recorded as a notification.
    assert not AlertState.objects.exists() and not Notification.objects.exists()


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


def rule_form(rule, **changes) -> dict:
    data = {
        "client": rule.client_id,
        "pipeline": rule.pipeline_id or "",
        "name": rule.name,
        "kind": rule.kind,
        "threshold": rule.threshold,
        "severity": rule.severity,
        "channel": rule.channel,
        "target": rule.target,
        "is_enabled": "on",
    }
    return {**data, **changes}


def test_saving_a_rule_keeps_what_an_evaluator_wrote_meanwhile(staff_client, pipeline, monkeypatch):
    from alerts.admin import AlertRuleAdmin

    rule = AlertRuleFactory(client=pipeline.client, name="orders failing")
    load = AlertRuleAdmin.get_object
    evaluated_at = timezone.now()

    def load_then_evaluate(self, request, object_id, from_field=None):
        loaded = load(self, request, object_id, from_field)
        # An evaluator commits a pass between the admin's read and its save.
        AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=evaluated_at)
        AlertStateFactory(rule=rule, pipeline=pipeline)
        return loaded

    monkeypatch.setattr(AlertRuleAdmin, "get_object", load_then_evaluate)
    response = staff_client.post(
        reverse("admin:alerts_alertrule_change", args=[rule.pk]),
        rule_form(rule, name="orders failing (renamed)", threshold=5),
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "orders failing (renamed)" and rule.threshold == 5
    assert rule.last_evaluated_at == evaluated_at
    assert rule.firing_pipeline_ids == [pipeline.pk]


def test_alert_state_is_read_only_in_the_admin(staff_client, pipeline):
    alert = AlertStateFactory(rule=AlertRuleFactory(client=pipeline.client, pipeline=pipeline))
    for model in ("alertstate", "alertevent", "notification", "silence", "maintenancewindow"):
        listing = staff_client.get(reverse(f"admin:alerts_{model}_changelist"))
        assert listing.status_code == 200
        assert staff_client.get(reverse(f"admin:alerts_{model}_add")).status_code == 403
    detail = staff_client.get(reverse("admin:alerts_alertstate_change", args=[alert.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()


SECRET_URL = "https://hooks.slack.com/services/T0/B0/very-secret-token"


def test_a_webhook_url_is_never_sent_back_to_the_browser(client, django_user_model, pipeline):
    from chm_project.roles import OPERATORS, VIEWERS
    from tests.conftest import staff_with_role

    rule = AlertRuleFactory(client=pipeline.client, channel=Channel.WEBHOOK, target=SECRET_URL)
    page = reverse("admin:alerts_alertrule_change", args=[rule.pk])
    for username, role in (("viewer", VIEWERS), ("operator", OPERATORS)):
        client.force_login(staff_with_role(django_user_model, username, role))
        content = client.get(page).content.decode()
        assert "very-secret-token" not in content
        assert "https://hooks.slack.com/…" in content
    # An operator saving the rule without retyping the URL keeps it.
    response = client.post(page, rule_form(rule, target="", name="renamed"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.target == SECRET_URL and rule.name == "renamed"


def test_the_rule_list_cannot_be_searched_by_target(staff_client, pipeline):
    AlertRuleFactory(client=pipeline.client, channel=Channel.WEBHOOK, target=SECRET_URL)
    response = staff_client.get(reverse("admin:alerts_alertrule_changelist"), {"q": "very-secret"})
    assert response.context["cl"].result_count == 0


def test_actions_are_recorded_in_the_rules_history(staff_client, pipeline):
    from django.contrib.admin.models import LogEntry

    rule = AlertRuleFactory(client=pipeline.client, target="ops@example.com")
    staff_client.post(
        reverse("admin:alerts_alertrule_changelist"),
        {"action": "send_test_notifications", "_selected_action": [rule.pk]},
    )
    [entry] = LogEntry.objects.filter(object_id=str(rule.pk))
    assert entry.user.username == "oncall"
    assert "Test notification sent to ops@example.com" in entry.get_change_message()
