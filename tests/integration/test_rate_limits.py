"""Rate limits on failed authentication per address (client keys, API tokens, the admin
login) and on API reads, and the shared store production counts them in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.cache import caches
from django.db import connection
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api import throttling
from runs.models import Run
from tests.conftest import staff_with_role
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

WINDOW_START = 1_800_000_000.0  # a multiple of every window below
RUN = {
    "pipeline": "orders-etl",
    "external_run_id": "run-1",
    "status": "running",
    "started_at": "2026-03-01T02:00:00Z",
}


@pytest.fixture
def clock(monkeypatch):
    now = {"now": WINDOW_START + 10.0}
    monkeypatch.setattr(throttling, "_now", lambda: now["now"])
    return now


@pytest.fixture
def failures_allowed(settings, clock):
    settings.AUTH_FAILURE_RATE_LIMIT = 3
    settings.AUTH_FAILURE_RATE_LIMIT_WINDOW = 300
    return clock


def keyed(key: str, address: str = "198.51.100.7") -> APIClient:
    api = APIClient(REMOTE_ADDR=address)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def test_an_address_that_keeps_sending_wrong_keys_gets_429_until_the_window_ends(
    failures_allowed, chm_client, pipeline
):
    wrong = keyed("chm_not-a-key")
    assert [wrong.get("/api/v1/runs/").status_code for _ in range(3)] == [401, 401, 401]

    refused = wrong.post("/api/v1/runs/", RUN, format="json")

    assert refused.status_code == 429
    assert refused["Retry-After"] == "290"
    # Other addresses are not affected, and the address is let in again in the next window.
    assert keyed("chm_not-a-key", "203.0.113.9").get("/api/v1/runs/").status_code == 401
    failures_allowed["now"] = WINDOW_START + 300.0
    assert wrong.get("/api/v1/runs/").status_code == 401


def test_a_working_key_is_not_held_up_by_its_addresss_failures(
    failures_allowed, chm_client, pipeline
):
    for _ in range(5):
        keyed("chm_not-a-key").get("/api/v1/runs/")

    assert keyed(chm_client.raw_key).post("/api/v1/runs/", RUN, format="json").status_code == 201
    assert Run.objects.count() == 1


def test_a_proxy_header_names_the_address_when_configured(settings, failures_allowed):
    settings.RATE_LIMIT_CLIENT_IP_HEADER = "X-Real-IP"
    for _ in range(3):
        keyed("chm_wrong", "127.0.0.1").get("/api/v1/runs/", HTTP_X_REAL_IP="198.51.100.7")

    behind_proxy = keyed("chm_wrong", "127.0.0.1")
    assert behind_proxy.get("/api/v1/runs/", HTTP_X_REAL_IP="198.51.100.7").status_code == 429
    assert behind_proxy.get("/api/v1/runs/", HTTP_X_REAL_IP="198.51.100.8").status_code == 401


def test_ipv6_addresses_are_counted_per_64_block(failures_allowed):
    for host in range(1, 4):
        keyed("chm_wrong", f"2001:db8:1:2::{host}").get("/api/v1/runs/")

    assert keyed("chm_wrong", "2001:db8:1:2::99").get("/api/v1/runs/").status_code == 429
    assert keyed("chm_wrong", "2001:db8:1:3::1").get("/api/v1/runs/").status_code == 401


def test_wrong_staff_api_tokens_count_too(failures_allowed, django_user_model):
    user = staff_with_role(django_user_model, "reader", "CHM viewers")
    token = Token.objects.create(user=user)
    wrong = APIClient(REMOTE_ADDR="198.51.100.7")
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert [wrong.get("/api/v1/runs/").status_code for _ in range(3)] == [401, 401, 401]

    assert wrong.get("/api/v1/runs/").status_code == 429
    right = APIClient(REMOTE_ADDR="198.51.100.7")
    right.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert right.get("/api/v1/runs/").status_code == 200


def test_failed_admin_logins_are_limited_per_address(client, failures_allowed, django_user_model):
    user = staff_with_role(django_user_model, "oncall-login", "CHM viewers")
    user.set_password("the-right-password-1")
    user.save()
    login = reverse("admin:login")
    attempt = {"username": "oncall-login", "password": "wrong"}

    answers = [client.post(login, attempt, REMOTE_ADDR="198.51.100.7") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]  # the form again

    right = {"username": "oncall-login", "password": "the-right-password-1"}
    blocked = client.post(login, right, REMOTE_ADDR="198.51.100.7")
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "290"
    assert client.post(login, right, REMOTE_ADDR="203.0.113.9").status_code == 302


def test_successful_logins_and_right_keys_are_not_counted(client, failures_allowed, chm_client):
    for _ in range(5):
        assert keyed(chm_client.raw_key).get("/api/v1/runs/").status_code == 200
    assert keyed("chm_wrong").get("/api/v1/runs/").status_code == 401


def test_api_reads_are_limited_per_key(settings, clock, chm_client):
    settings.API_READ_RATE_LIMIT = 2
    settings.API_READ_RATE_LIMIT_WINDOW = 60
    reader = keyed(chm_client.raw_key)

    codes = [reader.get("/api/v1/pipelines/").status_code for _ in range(3)]

    assert codes == [200, 200, 429]
    other = ClientFactory(slug="globex")
    assert keyed(other.raw_key).get("/api/v1/pipelines/").status_code == 200


def test_api_reads_are_limited_per_staff_user(settings, clock, client, staff_user):
    settings.API_READ_RATE_LIMIT = 1
    client.force_login(staff_user)

    assert [client.get("/api/v1/clients/").status_code for _ in range(2)] == [200, 429]


def test_a_failing_store_lets_authentication_and_reads_through(
    settings, failures_allowed, monkeypatch, chm_client
):
    settings.API_READ_RATE_LIMIT = 1

    def store_down(cache_key, window):
        raise ConnectionError("the store is down")

    monkeypatch.setattr(throttling, "_count_request", store_down)
    monkeypatch.setattr(caches["ratelimit"], "get", lambda *a, **k: store_down(None, None))
    for _ in range(4):
        assert keyed("chm_wrong").get("/api/v1/runs/").status_code == 401
    assert keyed(chm_client.raw_key).get("/api/v1/runs/").status_code == 200
    assert keyed(chm_client.raw_key).get("/api/v1/runs/").status_code == 200


@pytest.mark.parametrize("limit", ["AUTH_FAILURE_RATE_LIMIT", "API_READ_RATE_LIMIT"])
def test_production_counts_in_a_table_of_its_database(settings, clock, chm_client, limit):
    settings.RATE_LIMIT_STORE = "database"
    setattr(settings, limit, 2)
    sender = keyed("chm_wrong" if limit.startswith("AUTH") else chm_client.raw_key)
    for _ in range(2):
        sender.get("/api/v1/runs/")

    assert sender.get("/api/v1/runs/").status_code == 429
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(hits) FROM chm_rate_limit_count")
        assert cursor.fetchone() == (3,)  # every request counted, the refused one too


def test_a_new_window_in_the_database_forgets_the_ended_ones(settings, clock, chm_client):
    settings.RATE_LIMIT_STORE = "database"
    settings.API_READ_RATE_LIMIT = 5
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO chm_rate_limit_count VALUES ('chm:old', 9, now() - interval '1 hour')"
        )
    keyed(chm_client.raw_key).get("/api/v1/runs/")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM chm_rate_limit_count")
        assert [key for (key,) in cursor.fetchall() if key == "chm:old"] == []


def _rate_limit_store(**env: str) -> str:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.RATE_LIMIT_STORE, s.CACHES['ratelimit']['BACKEND'])"
    )
    base = {k: v for k, v in os.environ.items() if k != "RATE_LIMIT_CACHE_URL"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env=base | {"DJANGO_SETTINGS_MODULE": "chm_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_store_is_shared_in_production_and_per_process_in_development():
    assert _rate_limit_store(DEBUG="0").startswith("database ")
    assert _rate_limit_store(DEBUG="1") == "cache django.core.cache.backends.locmem.LocMemCache"
