from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import AlertRule, Channel, Notification, NotificationStatus, Severity
from alerts.notifications import deliver_pending_notifications
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


def fail_twice(pipeline, *, minutes_ago: int = 60) -> list:
    start = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return [
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=start + dt.timedelta(minutes=offset),
            error_message=f"OOM on attempt {offset}",
        )
        for offset in (0, 1)
    ]


def succeed(pipeline) -> None:
    RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=timezone.now())


def outbox(rule: AlertRule) -> list[Notification]:
    return list(Notification.objects.filter(rule=rule).order_by("pk"))


def pending(rule: AlertRule) -> list[Notification]:
    return [n for n in outbox(rule) if n.status == NotificationStatus.PENDING]


def evaluate_and_commit(capture) -> None:
    """One evaluation; its notifications go out when the surrounding transaction commits."""
    with capture(execute=True) as callbacks:
        evaluate_alerts()
    assert callbacks, "delivery must wait for the commit"


def webhook_rule(pipeline, url: str, **kwargs) -> AlertRule:
    return AlertRuleFactory(
        client=pipeline.client,
        pipeline=pipeline,
        name="orders keep failing",
        threshold=2,
        channel=Channel.WEBHOOK,
        target=url,
        severity=Severity.CRITICAL,
        **kwargs,
    )


def test_a_webhook_receives_the_firing_payload(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    rule = webhook_rule(pipeline, webhook_receiver.url)
    runs = fail_twice(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)

    assert len(webhook_receiver.accepted) == 1
    payload = webhook_receiver.accepted[0]
    assert payload["state"] == "firing"
    assert payload["rule"]["id"] == rule.pk
    assert payload["rule"]["name"] == "orders keep failing"
    assert payload["rule"]["severity"] == "critical"
    assert payload["client"] == {"id": pipeline.client.pk, "slug": "acme", "name": "Acme"}
    assert payload["pipeline"]["slug"] == "orders-etl"
    assert payload["pipeline"]["url"].endswith(f"/pipelines/{pipeline.pk}/")
    assert [run["external_run_id"] for run in payload["triggering_runs"]] == [
        runs[1].external_run_id,
        runs[0].external_run_id,
    ]
    assert payload["triggering_runs"][0]["error_message"] == "OOM on attempt 1"
    # Slack-compatible: a `text` that reads on its own and links to the pipeline page.
    assert "FIRING" in payload["text"] and "orders keep failing" in payload["text"]
    assert payload["pipeline"]["url"] in payload["text"]
    headers = webhook_receiver.attempts[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-CHM-Notification-Id"] == payload["notification_id"]

    [sent] = outbox(rule)
    assert (sent.state, sent.status, sent.channel) == ("firing", "delivered", "webhook")
    assert (sent.attempts, sent.response_code, sent.error) == (1, 200, "")
    assert sent.sent_at is not None


def test_a_webhook_receives_the_resolution_once(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    succeed(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert [payload["state"] for payload in webhook_receiver.accepted] == ["firing", "resolved"]
    assert webhook_receiver.accepted[1]["pipeline"]["slug"] == "orders-etl"


@pytest.mark.parametrize("failure", [500, "hang"])
def test_a_failed_webhook_is_retried_at_the_next_evaluation_and_sent_once(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks, failure, caplog
):
    rule = webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    # Both tries of the first evaluation fail.
    webhook_receiver.plan = [failure, failure]
    with caplog.at_level(logging.WARNING, logger="alerts.notifications"):
        evaluate_and_commit(django_capture_on_commit_callbacks)
    assert any("not delivered" in record.getMessage() for record in caplog.records)

    assert webhook_receiver.accepted == []
    assert len(webhook_receiver.attempts) == 2
    [waiting] = pending(rule)
    assert waiting.state == "firing"
    assert waiting.attempts == 1
    assert waiting.response_code == (500 if failure == 500 else None)
    assert "retried at the next evaluation" in waiting.error
    assert waiting.sent_at is None

    # The receiver has recovered: the next evaluation delivers, later ones send nothing again.
    evaluate_and_commit(django_capture_on_commit_callbacks)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert len(webhook_receiver.accepted) == 1
    assert webhook_receiver.accepted[0]["state"] == "firing"
    # The retry is the same notification, so a receiver can tell a retry from a new alert.
    first_try = webhook_receiver.attempts[0]["payload"]["notification_id"]
    assert webhook_receiver.accepted_ids() == [first_try]
    assert pending(rule) == []
    [sent] = outbox(rule)
    assert (sent.status, sent.attempts, sent.error) == ("delivered", 2, "")


def test_a_failure_is_retried_within_one_evaluation_first(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    webhook_receiver.plan = [503]
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert [attempt["answer"] for attempt in webhook_receiver.attempts] == [503, 200]
    assert len(webhook_receiver.accepted) == 1


def test_notifications_keep_their_order_after_a_failure(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    webhook_receiver.plan = [500, 500]
    evaluate_and_commit(django_capture_on_commit_callbacks)
    succeed(pipeline)
    webhook_receiver.plan = [500, 500]
    evaluate_and_commit(django_capture_on_commit_callbacks)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert [payload["state"] for payload in webhook_receiver.accepted] == ["firing", "resolved"]


def test_an_unreachable_webhook_does_not_stop_the_evaluator_or_other_rules(
    pipeline, webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    # Nothing listens on port 9 of the loopback interface: the connection is refused.
    broken = webhook_rule(pipeline, "http://127.0.0.1:9/hook")
    working = webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    [waiting] = pending(broken)
    assert "connection refused" in waiting.error
    assert "/hook" not in waiting.error  # the URL's path is redacted
    assert waiting.response_code is None
    assert pending(working) == []
    assert [payload["rule"]["id"] for payload in webhook_receiver.accepted] == [working.pk]


def test_an_email_names_the_client_pipeline_and_rule(pipeline, django_capture_on_commit_callbacks):
    AlertRuleFactory(
        client=pipeline.client,
        pipeline=pipeline,
        name="orders keep failing",
        threshold=2,
        target="oncall@example.com, data-team@example.com",
    )
    fail_twice(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["oncall@example.com", "data-team@example.com"]
    for text in (message.subject, message.body):
        assert "Acme" in text
        assert "Orders Etl" in text
        assert "orders keep failing" in text
    assert "FIRING" in message.subject
    assert f"/pipelines/{pipeline.pk}/" in message.body
    assert "OOM on attempt 1" in message.body

    succeed(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    assert "RESOLVED" in mail.outbox[1].subject


def test_a_client_wide_rule_notifies_each_pipeline_separately(
    chm_client, django_capture_on_commit_callbacks
):
    AlertRuleFactory(client=chm_client, name="any pipeline failing", threshold=2)
    for slug in ("orders", "invoices"):
        fail_twice(PipelineFactory(client=chm_client, slug=slug))
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert sorted(message.subject.split(" / ")[1] for message in mail.outbox) == [
        "Invoices — any pipeline failing",
        "Orders — any pipeline failing",
    ]


def test_nothing_is_sent_while_the_transaction_is_open(pipeline, webhook_receiver):
    webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    evaluate_alerts()  # inside the test's transaction, which never commits
    assert webhook_receiver.attempts == []
    assert len(pending(AlertRule.objects.get())) == 1


def test_a_claim_left_by_a_crashed_evaluator_lapses_and_the_notification_is_sent(
    pipeline, webhook_receiver
):
    rule = webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    evaluate_alerts(deliver=False)
    [item] = pending(rule)
    # Claimed by an evaluator that is still sending (or died a moment ago): left alone.
    Notification.objects.filter(pk=item.pk).update(
        lease_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert deliver_pending_notifications().delivered == 0
    assert webhook_receiver.attempts == []
    # Its claim has lapsed: the next evaluation sends it.
    Notification.objects.filter(pk=item.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert deliver_pending_notifications().delivered == 1
    assert webhook_receiver.accepted_ids() == [item.payload["notification_id"]]


def test_delivery_without_anything_pending_sends_nothing(pipeline, webhook_receiver):
    webhook_rule(pipeline, webhook_receiver.url)
    report = deliver_pending_notifications()
    assert report.delivered == 0 and report.failed == 0
    assert webhook_receiver.attempts == []


# --- targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["ftp://hooks.example.com/x", "file:///etc/passwd", "javascript:alert(1)", "hooks.example.com"],
)
def test_webhook_targets_must_be_http_or_https(pipeline, target):
    rule = AlertRuleFactory.build(
        client=pipeline.client, channel=Channel.WEBHOOK, target=target, threshold=2
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "target" in error.value.message_dict
    # The database refuses it too, whatever path the row takes.
    with pytest.raises(IntegrityError), transaction.atomic():
        rule.save()


def test_http_and_https_webhook_targets_are_accepted(pipeline, settings):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    for target in ("https://hooks.slack.com/services/T0/B0/x", "http://127.0.0.1:8080/hook"):
        AlertRuleFactory.build(
            client=pipeline.client, channel=Channel.WEBHOOK, target=target, threshold=2
        ).full_clean()


def test_email_targets_must_be_addresses(pipeline):
    rule = AlertRuleFactory.build(client=pipeline.client, target="oncall@example.com, nobody")
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "target" in error.value.message_dict


def test_an_inventory_file_with_a_non_http_webhook_is_refused_naming_the_field():
    from inventory.loading import InventoryError, load_inventory_text

    text = """\
version: 1
clients:
  - slug: acme
    alert_rules:
      - name: hook
        kind: stale
        threshold: 60
        channel: webhook
        target: ftp://hooks.example.com/chm
"""
    with pytest.raises(InventoryError) as caught:
        load_inventory_text(text=text)
    [(where, message)] = caught.value.errors
    assert where.endswith("clients[0].alert_rules[0].target")
    assert "http://" in message
    assert not AlertRule.objects.exists()


def test_names_cannot_break_the_email_subject_or_the_slack_text(
    webhook_receiver, fast_delivery, django_capture_on_commit_callbacks
):
    pipeline = PipelineFactory(slug="orders", name="Orders <prod>\nBcc: someone@example.com")
    AlertRuleFactory(client=pipeline.client, pipeline=pipeline, name="orders & co", threshold=2)
    webhook_rule(pipeline, webhook_receiver.url)
    fail_twice(pipeline)
    evaluate_and_commit(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert "\n" not in mail.outbox[0].subject
    assert "Orders <prod> Bcc: someone@example.com" in mail.outbox[0].subject
    [payload] = webhook_receiver.accepted
    assert "Orders &lt;prod&gt;" in payload["text"]
    assert payload["pipeline"]["name"].startswith("Orders <prod>")
