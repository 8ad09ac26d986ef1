"""A real HTTP server on the loopback interface that records the webhooks it receives."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        # What the next requests get, in order: an HTTP status, "hang" (answer nothing for
        # `hang_seconds`) or "slow" (a 200 after `slow_seconds`); once used up, every request
        # gets a 200.
        self.plan: list[int | str] = []
        self.hang_seconds = 1.0
        self.slow_seconds = 0.2
        self.attempts: list[dict] = []  # every request, whatever it was answered
        self.accepted: list[dict] = []  # the payloads answered with a 2xx

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/chm"

    def next_answer(self) -> int | str:
        with self.lock:
            return self.plan.pop(0) if self.plan else 200

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [payload["notification_id"] for payload in self.accepted]


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        payload = json.loads(body)
        answer = self.server.next_answer()
        with self.server.lock:
            self.server.attempts.append(
                {
                    "payload": payload,
                    "body": body,
                    "answer": answer,
                    "headers": dict(self.headers),
                    "path": self.path,
                }
            )
        if answer == "hang":
            time.sleep(self.server.hang_seconds)
            return
        if answer == "slow":
            time.sleep(self.server.slow_seconds)
            answer = 200
        # Recorded before answering: once the answer is out, the sender's next request may
        # reach another handler thread, which must not record its payload first.
        if 200 <= int(answer) < 300:
            with self.server.lock:
                self.server.accepted.append(payload)
        self.send_response(int(answer))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def running_receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    """A receiver on loopback: admitted by the webhook allow-list, as an internal receiver is."""
    settings.CHM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with running_receiver() as server:
        yield server


@pytest.fixture
def fast_delivery(settings):
    """Short timeouts and no pauses between tries, so failure paths stay quick."""
    settings.CHM_ALERTS_WEBHOOK_TIMEOUT = 0.3
    settings.CHM_ALERTS_DELIVERY_ATTEMPTS = 2
    settings.CHM_ALERTS_RETRY_BACKOFF = 0
    return settings
