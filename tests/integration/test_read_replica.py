"""The pages read from a real streaming replica; ingestion, logins and the API use the primary.

The test builds its own primary and a `pg_basebackup -R` standby on loopback and serves CHM
with gunicorn against both. With WAL replay paused on the standby, a run ingested through
the API is on the primary at once but absent from the pages until replay resumes: the pages
read the replica. Logging in during the pause works, so sessions never depend on replication.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.live_chm import Gunicorn, chm_environment, manage
from tests.pg_cluster import LocalCluster, postgres_bin_dir, temporary_cluster_root

SETUP = """
from django.contrib.auth.models import User
from inventory.models import Client, Pipeline
User.objects.create_superuser("oncall", password="replica-test-password")
pipeline = Pipeline.objects.create(client=Client.objects.get(slug="acme"), slug="orders-etl")
print(pipeline.pk)
"""


@pytest.fixture(scope="module")
def chm_with_replica():
    bin_dir = postgres_bin_dir()
    with temporary_cluster_root() as root:
        primary = LocalCluster.create_primary(bin_dir, root)
        standby = server = None
        try:
            primary.start()
            primary.sql("CREATE DATABASE chm")
            standby = primary.create_standby()
            standby.start()
            assert standby.sql("SELECT pg_is_in_recovery()") == "t"
            env = chm_environment(
                primary.url("chm"),
                DATABASE_REPLICA_URL=standby.url("chm"),
                # Plain HTTP on loopback: the session cookie must travel without TLS here.
                SESSION_COOKIE_SECURE="0",
                CSRF_COOKIE_SECURE="0",
            )
            manage(env, "migrate", "--noinput", "-v", "0")
            key = manage(env, "create_client", "acme").strip().splitlines()[-1]
            pipeline_pk = int(manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
            server = Gunicorn(env, log_dir=root)
            server.wait_ready()
            yield {
                "primary": primary,
                "standby": standby,
                "server": server,
                "key": key,
                "pipeline_pk": pipeline_pk,
            }
        finally:
            if server is not None:
                server.stop()
            if standby is not None:
                standby.stop_if_running()
            primary.stop_if_running()


def ingest(chm: dict, run_id: str) -> int:
    response = requests.post(
        f"{chm['server'].base_url}/api/v1/runs/",
        json={
            "pipeline": "orders-etl",
            "external_run_id": run_id,
            "status": "failed",
            "started_at": "2026-03-01T10:00:00Z",
            "finished_at": "2026-03-01T10:05:00Z",
            "error_message": "boom",
        },
        headers={"Authorization": f"Bearer {chm['key']}"},
        timeout=10,
    )
    return response.status_code


def staff_session(base_url: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base_url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = session.post(
        f"{base_url}/admin/login/?next=/runs/",
        data={
            "username": "oncall",
            "password": "replica-test-password",
            "csrfmiddlewaretoken": token,
            "next": "/runs/",
        },
        timeout=10,
    )
    assert answer.status_code == 200 and answer.url.endswith("/runs/"), answer.text[:500]
    return session


def test_pages_read_the_replica_while_ingestion_writes_the_primary(chm_with_replica):
    chm = chm_with_replica
    primary, standby, base_url = chm["primary"], chm["standby"], chm["server"].base_url
    assert ingest(chm, "before-pause") == 201
    standby.wait_until(
        "SELECT count(*) FROM runs_run WHERE external_run_id = 'before-pause'", "1", "chm"
    )

    standby.sql("SELECT pg_wal_replay_pause()")
    standby.wait_until("SELECT pg_get_wal_replay_pause_state()", "paused")
    try:
        assert ingest(chm, "during-pause") == 201
        assert (
            primary.sql(
                "SELECT count(*) FROM runs_run WHERE external_run_id = 'during-pause'", "chm"
            )
            == "1"
        )
        # Logging in writes a session on the primary and reads it back on the next request.
        session = staff_session(base_url)

        run_explorer = session.get(f"{base_url}/runs/", timeout=10)
        pipeline_page = session.get(f"{base_url}/pipelines/{chm['pipeline_pk']}/", timeout=10)
        api_list = requests.get(
            f"{base_url}/api/v1/runs/",
            headers={"Authorization": f"Bearer {chm['key']}"},
            timeout=10,
        )
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")

    for page in (run_explorer, pipeline_page):
        assert page.status_code == 200
        assert "before-pause" in page.text
        assert "during-pause" not in page.text  # the replica had not replayed it yet
    # The API reads the primary: a sender reading back sees what it just sent.
    assert {run["external_run_id"] for run in api_list.json()["results"]} == {
        "before-pause",
        "during-pause",
    }

    standby.wait_until(
        "SELECT count(*) FROM runs_run WHERE external_run_id = 'during-pause'", "1", "chm"
    )
    assert "during-pause" in session.get(f"{base_url}/runs/", timeout=10).text
