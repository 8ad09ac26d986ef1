"""Page reads come from a real streaming replica; writes and ingestion stay on the primary.

The test builds its own primary and a `pg_basebackup -R` standby on loopback, pauses WAL
replay on the standby, writes on the primary, and shows that reads inside the page scope see
the replica's (older) state while the primary already has the new rows.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_cluster import LocalCluster, postgres_bin_dir, temporary_cluster_root

ROOT = Path(__file__).resolve().parents[2]

COUNT_READS = """
import json
from chm_project.db_router import replica_reads
from runs.models import Run
from inventory.models import Pipeline
from django.contrib.auth.models import User
primary = Run.objects.count()
with replica_reads():
    replica = Run.objects.count()
    alias = Run.objects.all().db
    pipelines = Pipeline.objects.count()
    users_alias = User.objects.all().db
print(json.dumps({"primary": primary, "replica": replica, "alias": alias,
                  "pipelines": pipelines, "users_alias": users_alias}))
"""

WRITE_RUNS = """
from django.utils import timezone
from chm_project.db_router import replica_reads
from inventory.models import Client, Pipeline
from runs.models import Run
client, _ = Client.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
pipeline, _ = Pipeline.objects.get_or_create(client=client, slug="orders")
start = Run.objects.count()
# Writes inside the page scope still go to the primary.
with replica_reads():
    for n in range(HOW_MANY):
        Run.objects.create(pipeline=pipeline, external_run_id=f"r{start + n}", status="success",
                           started_at=timezone.now(), finished_at=timezone.now())
"""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def primary_and_standby():
    bin_dir = postgres_bin_dir()
    with temporary_cluster_root() as root:
        primary = LocalCluster.create_primary(bin_dir, root)
        standby = None
        try:
            primary.start()
            primary.sql("CREATE DATABASE chm")
            standby = primary.create_standby()
            standby.start()
            assert standby.sql("SELECT pg_is_in_recovery()") == "t"
            yield primary, standby
        finally:
            if standby is not None:
                standby.stop_if_running()
            primary.stop_if_running()


@pytest.fixture(scope="module")
def chm_env(primary_and_standby) -> dict[str, str]:
    primary, standby = primary_and_standby
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "PROMETHEUS"))}
    env = base | {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": primary.url("chm"),
        "DATABASE_REPLICA_URL": standby.url("chm"),
    }
    manage(env, "migrate", "--noinput", "-v", "0")
    return env


def write_runs(env: dict[str, str], how_many: int) -> None:
    manage(env, "shell", "-c", WRITE_RUNS.replace("HOW_MANY", str(int(how_many))))


def reads(env: dict[str, str]) -> dict:
    return json.loads(manage(env, "shell", "-c", COUNT_READS).strip().splitlines()[-1])


def test_page_reads_come_from_the_replica_and_writes_from_the_primary(primary_and_standby, chm_env):
    primary, standby = primary_and_standby
    write_runs(chm_env, 2)
    standby.wait_until("SELECT count(*) FROM runs_run", "2", database="chm")

    standby.sql("SELECT pg_wal_replay_pause()")
    standby.wait_until("SELECT pg_get_wal_replay_pause_state()", "paused")
    try:
        write_runs(chm_env, 3)
        assert primary.sql("SELECT count(*) FROM runs_run", database="chm") == "5"

        seen = reads(chm_env)
        assert seen["primary"] == 5  # outside the page scope: the primary
        assert seen["replica"] == 2  # inside it: the paused replica's older state
        assert seen["alias"] == "replica"
        assert seen["pipelines"] == 1
        assert seen["users_alias"] == "default"  # logins never depend on replication
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")

    standby.wait_until("SELECT count(*) FROM runs_run", "5", database="chm")
    assert reads(chm_env)["replica"] == 5


def test_without_a_replica_every_read_uses_the_primary(chm_env):
    env = {k: v for k, v in chm_env.items() if k != "DATABASE_REPLICA_URL"}
    seen = reads(env)
    assert seen["alias"] == "default"
    assert seen["replica"] == seen["primary"]
