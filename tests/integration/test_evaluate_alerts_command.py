from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from alerts.models import AlertRule
from common.loops import heartbeat_problem
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, RunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def fail_twice(pipeline) -> None:
    started = timezone.now() - dt.timedelta(minutes=10)
    for offset in (0, 1):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=started + dt.timedelta(minutes=offset),
        )


def test_evaluate_alerts_fires_and_notifies_once(pipeline):
    AlertRuleFactory(client=pipeline.client, threshold=2)
    fail_twice(pipeline)
    out = StringIO()
    call_command("evaluate_alerts", stdout=out)
    assert "1 fired" in out.getvalue()
    assert "1 notification(s) delivered" in out.getvalue()
    assert len(mail.outbox) == 1
    assert AlertRule.objects.get().firing_pipeline_ids == [pipeline.pk]


def test_evaluate_alerts_in_a_loop_notifies_a_transition_once(pipeline):
    AlertRuleFactory(client=pipeline.client, threshold=2)
    fail_twice(pipeline)
    out = StringIO()
    call_command("evaluate_alerts", loop=0.01, iterations=3, stdout=out)
    assert out.getvalue().count("rules evaluated") == 3
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [({"loop": 0}, "--loop"), ({"loop": 1, "iterations": 0}, "--iterations")],
)
def test_evaluate_alerts_refuses_bad_loop_options(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_alerts", **options)


def test_a_failed_pass_does_not_end_the_loop(pipeline, monkeypatch):
    from alerts.evaluation import evaluate_alerts
    from alerts.management.commands import evaluate_alerts as command

    AlertRuleFactory(client=pipeline.client, threshold=2)
    fail_twice(pipeline)
    calls = []

    def flaky_database(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return evaluate_alerts(**kwargs)

    monkeypatch.setattr(command, "evaluate_alerts", flaky_database)
    out, err = StringIO(), StringIO()
    call_command("evaluate_alerts", loop=0.01, iterations=2, stdout=out, stderr=err)
    assert "server closed the connection" in err.getvalue()
    assert "1 fired" in out.getvalue()
    assert len(mail.outbox) == 1


def test_evaluate_alerts_records_a_heartbeat_after_a_completed_pass(pipeline, tmp_path):
    AlertRuleFactory(client=pipeline.client, threshold=2)
    heartbeat = tmp_path / "evaluate_alerts.heartbeat"
    call_command("evaluate_alerts", f"--heartbeat-file={heartbeat}", stdout=StringIO())
    assert heartbeat_problem(heartbeat, max_age=60, now=timezone.now()) is None
