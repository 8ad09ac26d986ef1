"""Which database alias a read or a write uses."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session

from alerts.models import AlertRule
from chm_project import db_router
from chm_project.db_router import ReplicaRouter, replica_reads
from inventory.models import Client, Pipeline
from runs.models import Run
from runs.reporting import PipelineLatestStatus

router = ReplicaRouter()


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)


@pytest.mark.parametrize("model", [Client, Pipeline, Run, AlertRule, PipelineLatestStatus])
def test_monitoring_reads_in_the_page_scope_go_to_the_replica(with_replica, model):
    assert router.db_for_read(model) == "default"
    with replica_reads():
        assert router.db_for_read(model) == "replica"
        assert router.db_for_write(model) == "default"


@pytest.mark.parametrize("model", [User, Session])
def test_users_and_sessions_always_come_from_the_primary(with_replica, model):
    with replica_reads():
        assert router.db_for_read(model) == "default"


def test_without_a_replica_everything_uses_the_primary():
    with replica_reads():
        assert router.db_for_read(Run) == "default"


def test_only_the_primary_is_migrated():
    assert router.allow_migrate("default", "runs")
    assert not router.allow_migrate("replica", "runs")
