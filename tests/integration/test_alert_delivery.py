"""Delivery over real loopback HTTP (tests/webhook_server.py): what each kind of failure
leaves on the notification row, Slack's message format, and email as text and HTML."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import Channel, Notification, NotificationStatus
from alerts.notifications import deliver_pending_notifications
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, RunFactory

pytestmark = pytest.mark.django_db

ERROR = "relation <orders> does not exist & the load stopped"


@pytest.fixture
def failing(pipeline):
    start = timezone.now() - dt.timedelta(minutes=30)
    for offset in (0, 1):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=start + dt.timedelta(minutes=offset),
            error_message=ERROR,
        )
    return pipeline


def hook_rule(pipeline, url: str, channel: str = Channel.WEBHOOK):
    return AlertRuleFactory(
        client=pipeline.client,
        pipeline=pipeline,
        name="orders failing",
        threshold=2,
        channel=channel,
        target=url,
    )


def evaluate() -> None:
    evaluate_alerts(deliver=False)
    deliver_pending_notifications()


def the_notification() -> Notification:
    return Notification.objects.get()


@pytest.mark.parametrize(
    ("plan", "error", "code"),
    [
        (["hang", "hang"], "no answer within the deadline", None),
        ([500, 500], "answered HTTP 500", 500),
    ],
)
def test_a_timeout_or_a_500_is_recorded_and_retried_at_the_next_evaluation(
    failing, webhook_receiver, fast_delivery, plan, error, code
):
    webhook_receiver.hang_seconds = 0.6  # beyond the 0.3 s deadline
    hook_rule(failing, webhook_receiver.url)
    webhook_receiver.plan = list(plan)
    evaluate()
    row = the_notification()
    assert row.status == NotificationStatus.PENDING
    assert error in row.error and row.response_code == code
    assert row.attempts == 1 and row.sent_at is None
    assert len(webhook_receiver.attempts) == 2  # both tries of the pass

    evaluate()
    row = the_notification()
    assert (row.status, row.response_code, row.attempts, row.error) == ("delivered", 200, 2, "")
    assert len(webhook_receiver.accepted) == 1


def test_a_refused_connection_is_recorded_without_a_response_code(
    failing, webhook_receiver, fast_delivery
):
    # Nothing listens on port 9 of the loopback interface.
    hook_rule(failing, "http://127.0.0.1:9/hooks/secret-token")
    evaluate()
    row = the_notification()
    assert row.status == NotificationStatus.PENDING and row.response_code is None
    assert "connection refused" in row.error
    assert "secret-token" not in row.error


def test_a_4xx_is_not_retried_within_the_pass(failing, webhook_receiver, fast_delivery):
    hook_rule(failing, webhook_receiver.url)
    webhook_receiver.plan = [404]
    evaluate()
    row = the_notification()
    assert row.response_code == 404 and row.status == NotificationStatus.PENDING
    assert len(webhook_receiver.attempts) == 1


def test_a_slow_receiver_within_the_deadline_gets_the_notification_once(
    failing, webhook_receiver, fast_delivery
):
    webhook_receiver.slow_seconds = 0.1  # under the 0.3 s deadline
    hook_rule(failing, webhook_receiver.url)
    webhook_receiver.plan = ["slow"]
    evaluate()
    evaluate()
    assert len(webhook_receiver.attempts) == 1
    row = the_notification()
    assert (row.status, row.attempts, row.response_code) == ("delivered", 1, 200)


def test_a_receiver_slower_than_the_deadline_counts_as_a_timeout(
    failing, webhook_receiver, fast_delivery
):
    webhook_receiver.slow_seconds = 0.6
    hook_rule(failing, webhook_receiver.url)
    webhook_receiver.plan = ["slow", "slow"]
    evaluate()
    row = the_notification()
    assert row.status == NotificationStatus.PENDING
    assert "no answer within the deadline" in row.error


def test_slack_gets_blocks_with_the_pipeline_client_error_and_a_link(
    failing, webhook_receiver, fast_delivery, settings
):
    settings.CHM_BASE_URL = "https://chm.example.com"
    hook_rule(failing, webhook_receiver.url + "/T0/B0/token", channel=Channel.SLACK)
    evaluate()
    [message] = webhook_receiver.accepted
    assert set(message) == {"text", "blocks"}
    assert "FIRING" in message["text"]
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header" and "orders failing" in blocks[0]["text"]["text"]
    fields = " ".join(field["text"] for field in blocks[2]["fields"])
    assert "*Pipeline*\nOrders Etl" in fields and "*Client*\nAcme" in fields
    # Slack's own escaping: an error cannot open a link or a mention.
    assert (
        "relation &lt;orders&gt; does not exist &amp; the load stopped" in blocks[3]["text"]["text"]
    )
    [button] = blocks[-1]["elements"]
    assert button["url"] == f"https://chm.example.com/pipelines/{failing.pk}/"
    assert the_notification().channel == Channel.SLACK


def test_a_slack_target_is_checked_like_a_webhook(pipeline):
    from django.core.exceptions import ValidationError

    rule = AlertRuleFactory.build(
        client=pipeline.client, channel=Channel.SLACK, target="ftp://hooks.slack.com/x"
    )
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert "target" in caught.value.message_dict


def test_an_email_carries_the_same_content_as_text_and_html(failing, settings):
    settings.CHM_BASE_URL = "https://chm.example.com"
    AlertRuleFactory(client=failing.client, pipeline=failing, name="orders <failing>", threshold=2)
    evaluate()
    [message] = mail.outbox
    link = f"https://chm.example.com/pipelines/{failing.pk}/"
    assert link in message.body and ERROR in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert f'href="{link}"' in html
    # The HTML is escaped: names and errors are text, never markup.
    assert "relation &lt;orders&gt; does not exist &amp; the load stopped" in html
    assert "orders &lt;failing&gt;" in html and "<failing>" not in html
    for text in (message.body, html):
        assert "Acme" in text and "Orders Etl" in text and "2 failed runs in a row" in text


def test_a_dead_target_cannot_grow_the_outbox_forever(
    failing, webhook_receiver, fast_delivery, monkeypatch
):
    from alerts import notifications

    monkeypatch.setattr(notifications, "MAX_PENDING_NOTIFICATIONS", 1)
    hook_rule(failing, "http://127.0.0.1:9/hook")
    evaluate()
    RunFactory(pipeline=failing, status=RunStatus.SUCCESS, started_at=timezone.now())
    evaluate()
    rows = list(Notification.objects.order_by("pk").values_list("state", "status"))
    # The oldest is dropped (and says so); the newest still waits.
    assert rows == [("firing", "dropped"), ("resolved", "pending")]
    assert "dropped: more than 1" in Notification.objects.order_by("pk").first().error
