"""Outbound webhooks (alerts/webhooks.py): refused internal targets at save and at connect,
the allow-list, no redirects, one deadline, a capped answer, the signature, redacted URLs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.exceptions import ValidationError

from alerts import webhooks
from alerts.models import AlertRule, Channel
from alerts.notifications import DeliveryError, send_test_notification
from tests.factories import AlertRuleFactory

pytestmark = pytest.mark.django_db

SECRET_PATH = "/services/T0/B0/very-secret-token?key=also-secret"

INTERNAL_TARGETS = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://[::1]/hook",
    "http://localhost:8000/hook",
    "http://chm.localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
]


def rule_with(target: str, **fields) -> AlertRule:
    return AlertRuleFactory(channel=Channel.WEBHOOK, target=target, threshold=2, **fields)


@pytest.mark.parametrize("target", INTERNAL_TARGETS)
def test_an_internal_webhook_target_is_refused_when_the_rule_is_saved(settings, target):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = []
    rule = AlertRuleFactory.build(channel=Channel.WEBHOOK, target=target, threshold=2)

    with pytest.raises(ValidationError) as error:
        rule.full_clean(exclude=["client"])

    [message] = error.value.message_dict["target"]
    assert "CHM_WEBHOOK_ALLOWED_NETWORKS" in message


@pytest.mark.parametrize("target", INTERNAL_TARGETS[:3])
def test_the_allow_list_admits_internal_receivers_it_names(settings, target):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]

    assert webhooks.target_error(target) is None


def test_an_internal_target_stored_anyway_is_refused_when_connecting(settings, webhook_receiver):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = []
    rule = rule_with(webhook_receiver.url)  # factories skip validation, as a raw insert would

    with pytest.raises(DeliveryError, match="loopback"):
        send_test_notification(rule)

    assert webhook_receiver.attempts == []


def test_a_host_that_resolves_to_an_internal_address_is_refused(settings, monkeypatch):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = []
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("10.0.0.7", "93.184.216.34"))

    result = webhooks.post_json("https://hooks.example.com/x", {}, deadline_seconds=2)

    assert not result.delivered and not result.retry
    assert "hooks.example.com resolves to 10.0.0.7" in result.error


def test_the_connection_goes_to_the_address_that_was_checked(webhook_receiver, monkeypatch):
    # The name resolves to the receiver's address once; a second lookup, as DNS rebinding
    # would answer it, would give another one (where nothing listens).
    answers = iter(["127.0.0.1", "127.0.0.2"])
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return resolve_to(next(answers), port)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    port = webhook_receiver.server_address[1]

    result = webhooks.post_json(
        f"http://hooks.example.com:{port}/hooks/chm", {"hello": 1}, deadline_seconds=2
    )

    assert result.delivered
    [attempt] = webhook_receiver.attempts
    assert attempt["headers"]["Host"] == f"hooks.example.com:{port}"
    assert attempt["path"] == "/hooks/chm"


def test_redirects_are_not_followed(webhook_receiver):
    webhook_receiver.plan = [302]

    result = webhooks.post_json(webhook_receiver.url, {}, deadline_seconds=2)

    assert result.status == 302 and not result.delivered and not result.retry
    assert len(webhook_receiver.attempts) == 1


def test_one_deadline_covers_an_answer_that_trickles_in(settings):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    # A complete 200 answer, one byte every 20 ms: no single read ever waits long, so only a
    # deadline for the whole request stops it before it completes.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"." * 200 + b"\r\n\r\n"
    with raw_server(lambda conn: trickle(conn, answer, every=0.02)) as url:
        result = webhooks.post_json(url, {}, deadline_seconds=0.5)

    assert not result.delivered
    assert result.retry
    assert "no answer within the deadline" in result.error


def test_an_endless_answer_is_read_only_up_to_the_cap(settings):
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"

    def endless(conn: socket.socket) -> None:
        conn.sendall(head)
        while True:
            conn.sendall(b"x" * 65536)

    with raw_server(endless) as url:
        # Were the answer read to its end, this would run into the deadline instead.
        result = webhooks.post_json(url, {}, deadline_seconds=5)

    assert result.delivered and result.status == 200


def test_with_a_secret_every_request_is_signed(settings, webhook_receiver):
    settings.CHM_WEBHOOK_SECRET = "shared-with-the-receiver"
    rule = rule_with(webhook_receiver.url)

    send_test_notification(rule)

    [attempt] = webhook_receiver.attempts
    timestamp = attempt["headers"]["X-CHM-Timestamp"]
    expected = hmac.new(
        b"shared-with-the-receiver", timestamp.encode() + b"." + attempt["body"], hashlib.sha256
    ).hexdigest()
    assert attempt["headers"]["X-CHM-Signature"] == f"sha256={expected}"


def test_without_a_secret_nothing_is_signed(settings, webhook_receiver):
    settings.CHM_WEBHOOK_SECRET = ""

    webhooks.post_json(webhook_receiver.url, {}, deadline_seconds=2)

    assert "X-CHM-Signature" not in webhook_receiver.attempts[0]["headers"]


def test_a_failed_delivery_shows_and_logs_the_url_without_its_path(
    pipeline, webhook_receiver, fast_delivery, caplog, django_capture_on_commit_callbacks
):
    from alerts.evaluation import evaluate_alerts
    from runs.models import RunStatus
    from tests.factories import RunFactory

    port = webhook_receiver.server_address[1]
    rule = rule_with(f"http://127.0.0.1:{port}{SECRET_PATH}", client=pipeline.client)
    webhook_receiver.plan = [500, 500]
    RunFactory.create_batch(2, pipeline=pipeline, status=RunStatus.FAILED)

    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        evaluate_alerts()

    from alerts.models import Notification

    [notification] = Notification.objects.filter(rule=rule)
    assert f"http://127.0.0.1:{port}/…" in notification.error
    assert "very-secret-token" not in notification.error
    assert "very-secret-token" not in caplog.text
    assert rule.shown_target == f"http://127.0.0.1:{port}/…"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/x", "https://hooks.slack.com/…"),
        ("https://user:password@example.com:8443/a?b=c", "https://example.com:8443/…"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://example.com/", "https://example.com"),
        ("not a url", "(an invalid URL)"),
    ],
)
def test_redaction_keeps_scheme_host_and_port_only(url, shown):
    assert webhooks.redact_url(url) == shown


# --- helpers ------------------------------------------------------------------------------


def resolve_to(address: str, port: int) -> list:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def resolving_to(*addresses: str):
    """A getaddrinfo that answers ``addresses`` for any name (the test never connects)."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [entry for address in addresses for entry in resolve_to(address, port)]

    return getaddrinfo


def trickle(conn: socket.socket, data: bytes, *, every: float) -> None:
    conn.recv(65536)
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(every)


@contextmanager
def raw_server(answer) -> Iterator[str]:
    """A loopback TCP server that hands each connection to ``answer``; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            # OSError: the client hung up, which is what the test wants to see.
            with conn, contextlib.suppress(OSError):
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)
