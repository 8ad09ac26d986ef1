"""PostgreSQL stops and starts while CHM ingests: nothing acknowledged is lost, answers while
it is down are quick 503s, and ingestion resumes without restarting CHM.

CHM runs under a real gunicorn (2 workers, persistent connections with health checks) against
a throwaway PostgreSQL cluster of this test's own; two senders post runs the whole time.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.live_chm import Gunicorn, chm_environment, manage
from tests.pg_cluster import LocalCluster, postgres_bin_dir, temporary_cluster_root

MAX_REQUESTS_PER_SENDER = 3000  # bounds the test whatever happens


@dataclass(frozen=True)
class Answer:
    run_id: str
    status: int  # 0: no HTTP answer at all (connection error or client timeout)
    sent: float
    received: float


class Sender(threading.Thread):
    def __init__(self, base_url: str, key: str, name: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/api/v1/runs/"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.name = name
        self.stop_event = stop
        self.answers: list[Answer] = []

    def run(self) -> None:
        session = requests.Session()
        for n in range(MAX_REQUESTS_PER_SENDER):
            if self.stop_event.is_set():
                return
            run_id = f"{self.name}-{n}"
            body = {
                "pipeline": "orders-etl",
                "external_run_id": run_id,
                "status": "success",
                "started_at": "2026-03-01T10:00:00Z",
                "finished_at": "2026-03-01T10:05:00Z",
            }
            sent = time.monotonic()
            try:
                status = session.post(
                    self.url, json=body, headers=self.headers, timeout=10
                ).status_code
            except requests.RequestException:
                status = 0
            self.answers.append(Answer(run_id, status, sent, time.monotonic()))
            time.sleep(0.01)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster():
    bin_dir = postgres_bin_dir()
    with temporary_cluster_root() as root:
        primary = LocalCluster.create_primary(bin_dir, root)
        try:
            primary.start()
            primary.sql("CREATE DATABASE chm")
            yield primary
        finally:
            primary.stop_if_running()


def test_ingestion_survives_postgres_stopping_and_starting(cluster):
    metrics_dir = Path(tempfile.mkdtemp(prefix="chm-metrics-"))
    env = chm_environment(
        cluster.url("chm"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        METRICS_TOKEN="scrape-secret",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    key = manage(env, "create_client", "acme").strip().splitlines()[-1]
    manage(
        env,
        "shell",
        "-c",
        "from inventory.models import *; "
        "Pipeline.objects.create(client=Client.objects.get(slug='acme'), slug='orders-etl')",
    )

    server = Gunicorn(env, log_dir=cluster.root)
    stop = threading.Event()
    senders = [Sender(server.base_url, key, name, stop) for name in ("a", "b")]
    try:
        server.wait_ready()
        workers = server.worker_pids()
        for sender in senders:
            sender.start()
        count_2xx = lambda: sum(1 for s in senders for a in s.answers if 200 <= a.status < 300)  # noqa: E731
        answered = lambda: sum(len(s.answers) for s in senders)  # noqa: E731

        wait_for(lambda: count_2xx() >= 20, 60, "runs acknowledged before the stop")
        cluster.stop("fast")
        down_since = time.monotonic()
        seen = answered()
        wait_for(lambda: answered() >= seen + 20, 30, "answers while PostgreSQL is down")
        health_sent = time.monotonic()
        health = requests.get(f"{server.base_url}/healthz", timeout=10)
        health_seconds = time.monotonic() - health_sent
        down_until = time.monotonic()
        cluster.start()

        acknowledged_before_restart = count_2xx()
        wait_for(
            lambda: count_2xx() >= acknowledged_before_restart + 20,
            60,
            "runs acknowledged after the restart",
        )
        stop.set()
        for sender in senders:
            sender.join(timeout=30)
        assert server.worker_pids() == workers, "a worker was killed or replaced"
        metrics = requests.get(
            f"{server.base_url}/metrics",
            headers={"Authorization": "Bearer scrape-secret"},
            timeout=10,
        ).text
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)

    answers = [a for s in senders for a in s.answers]
    assert {a.status for a in answers} <= {200, 201, 503}, server.log()

    # While PostgreSQL was down: 503, each within a second.
    while_down = [a for a in answers if a.sent >= down_since and a.received <= down_until]
    assert len(while_down) >= 10
    assert {a.status for a in while_down} == {503}
    slowest = max(a.received - a.sent for a in while_down)
    print(f"{len(while_down)} answers while down, slowest {slowest * 1000:.0f} ms")  # noqa: T201
    assert slowest < 1.0
    assert health.status_code == 503
    assert health_seconds < 1.0

    # Nothing acknowledged was lost; ingestion resumed without restarting CHM.
    acknowledged = {a.run_id for a in answers if 200 <= a.status < 300}
    stored = set(cluster.sql("SELECT external_run_id FROM runs_run", database="chm").split())
    assert acknowledged <= stored
    assert any(a.sent > down_until and a.status in (200, 201) for a in answers)
    assert all(a.status in (200, 201) for s in senders for a in s.answers[-5:])

    # The workers' samples are summed in /metrics (multi-process mode).
    assert 'chm_database_unavailable_total{exception="OperationalError"}' in metrics
    assert 'chm_ingest_requests_total{endpoint="runs",outcome="unavailable"}' in metrics
