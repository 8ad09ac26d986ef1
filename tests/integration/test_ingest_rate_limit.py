"""The per-key ingestion rate limit answers 429 with Retry-After at the configured threshold."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from api import throttling
from runs.models import Run
from tests.factories import ClientFactory, PipelineFactory

pytestmark = pytest.mark.django_db

WINDOW_START = 1_800_000_000.0  # a multiple of 60: windows are aligned on the clock


@pytest.fixture
def rate_limit(settings, monkeypatch):
    settings.INGEST_RATE_LIMIT = 3
    settings.INGEST_RATE_LIMIT_WINDOW = 60
    caches["ratelimit"].clear()
    clock = {"now": WINDOW_START + 15.2}
    monkeypatch.setattr(throttling, "_now", lambda: clock["now"])
    yield clock
    caches["ratelimit"].clear()


def sender(client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {client.raw_key}")
    return api


def run(n: int) -> dict:
    return {
        "pipeline": "orders-etl",
        "external_run_id": f"run-{n}",
        "status": "success",
        "started_at": "2026-03-01T10:00:00Z",
        "finished_at": "2026-03-01T10:05:00Z",
    }


def test_the_request_past_the_threshold_is_refused_with_retry_after(rate_limit, pipeline):
    api = sender(pipeline.client)
    answers = [api.post("/api/v1/runs/", run(n), format="json") for n in range(4)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    refused = answers[-1]
    # 15.2 s into a 60 s window: the count starts again in 44.8 s, announced as 45.
    assert refused["Retry-After"] == "45"
    assert "45 seconds" in refused.json()["detail"]
    assert not Run.objects.filter(external_run_id="run-3").exists()


def test_batches_and_lineage_events_share_the_key_count(rate_limit, pipeline):
    api = sender(pipeline.client)
    assert api.post("/api/v1/runs/", [run(0), run(1)], format="json").status_code == 200
    assert api.post("/api/v1/runs", run(2), format="json").status_code == 201
    assert api.post("/api/v1/lineage", {"eventType": "START"}, format="json").status_code == 400
    lineage = api.post("/api/v1/lineage", {"eventType": "START"}, format="json")
    assert lineage.status_code == 429


def test_each_key_has_its_own_count_and_reads_are_not_counted(rate_limit, pipeline):
    api = sender(pipeline.client)
    for n in range(3):
        api.post("/api/v1/runs/", run(n), format="json")
    assert api.post("/api/v1/runs/", run(3), format="json").status_code == 429
    assert api.get("/api/v1/runs/").status_code == 200

    other = ClientFactory(slug="globex")
    PipelineFactory(client=other, slug="orders-etl")
    assert sender(other).post("/api/v1/runs/", run(0), format="json").status_code == 201


def test_the_next_window_accepts_again(rate_limit, pipeline):
    api = sender(pipeline.client)
    for n in range(3):
        api.post("/api/v1/runs/", run(n), format="json")
    assert api.post("/api/v1/runs/", run(3), format="json").status_code == 429
    rate_limit["now"] = WINDOW_START + 60.0
    assert api.post("/api/v1/runs/", run(3), format="json").status_code == 201


def test_a_limit_of_zero_turns_it_off(rate_limit, settings, pipeline):
    settings.INGEST_RATE_LIMIT = 0
    api = sender(pipeline.client)
    codes = {api.post("/api/v1/runs/", run(n), format="json").status_code for n in range(6)}
    assert codes == {201}


def test_the_rate_limit_is_off_by_default_in_development_only():
    code = "from django.conf import settings as s; print(s.INGEST_RATE_LIMIT)"
    out = {}
    for debug in ("1", "0"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
        env |= {"DEBUG": debug, "DJANGO_SETTINGS_MODULE": "chm_project.settings"}
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        out[debug] = int(result.stdout.strip())
    assert out["1"] == 0
    assert out["0"] > 0


def test_a_failing_rate_limit_cache_lets_ingestion_through(rate_limit, monkeypatch, pipeline):
    def cache_down(cache_key, window):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(throttling, "_count_request", cache_down)
    api = sender(pipeline.client)
    codes = {api.post("/api/v1/runs/", run(n), format="json").status_code for n in range(5)}
    assert codes == {201}


def _ratelimit_cache_backend(url: str) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CACHES['ratelimit']['BACKEND'])"
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env=os.environ
        | {"RATE_LIMIT_CACHE_URL": url, "DJANGO_SETTINGS_MODULE": "chm_project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_redis_url_gives_every_worker_one_shared_count():
    result = _ratelimit_cache_backend("redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


def test_an_unsupported_cache_url_is_refused_at_start():
    result = _ratelimit_cache_backend("memcached://127.0.0.1:11211")
    assert result.returncode != 0
    assert "RATE_LIMIT_CACHE_URL must be database://, a redis:// URL or locmem://" in result.stderr
