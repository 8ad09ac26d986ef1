"""Rules are evaluated right after terminal runs are ingested, in the background."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.utils import timezone

from alerts import on_ingest
from alerts.evaluation import evaluate_alerts
from alerts.models import AlertRule
from alerts.on_ingest import ingest_evaluator
from runs.models import RunStatus
from runs.signals import terminal_runs_ingested
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def fail_twice(pipeline) -> None:
    started = timezone.now() - dt.timedelta(minutes=10)
    for offset in (0, 1):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=started + dt.timedelta(minutes=offset),
        )


@pytest.fixture
def evaluate_on_ingest(settings):
    settings.CHM_ALERTS_EVALUATE_ON_INGEST = True
    yield
    assert ingest_evaluator.wait_until_idle(timeout=30)


def test_ingesting_terminal_runs_evaluates_the_rules_covering_those_pipelines(
    evaluate_on_ingest,
):
    client = ClientFactory(slug="acme")
    ingested = PipelineFactory(client=client, slug="orders")
    untouched = PipelineFactory(client=client, slug="invoices")
    fail_twice(ingested)
    fail_twice(untouched)
    rule = AlertRuleFactory(client=client, name="two failures", threshold=2)

    terminal_runs_ingested.send(sender=None, pipeline_ids={ingested.pk})
    assert ingest_evaluator.wait_until_idle(timeout=30)

    rule.refresh_from_db()
    # Only the pipeline that was ingested is evaluated; the periodic pass catches the rest.
    assert rule.firing_pipeline_ids == [ingested.pk]
    assert len(mail.outbox) == 1
    assert "Orders" in mail.outbox[0].subject


def test_ingest_returns_before_the_evaluation_has_run(evaluate_on_ingest, monkeypatch):
    pipeline = PipelineFactory(client=ClientFactory(slug="acme"), slug="orders")
    fail_twice(pipeline)
    AlertRuleFactory(client=pipeline.client, threshold=2)
    release = threading.Event()

    def slow_evaluation(**kwargs):
        # Stands for a webhook that takes its time to answer.
        release.wait(timeout=30)
        return evaluate_alerts(**kwargs)

    monkeypatch.setattr(on_ingest, "evaluate_alerts", slow_evaluation)
    terminal_runs_ingested.send(sender=None, pipeline_ids={pipeline.pk})
    # The sender got control back while the evaluation is still held up.
    assert not ingest_evaluator.wait_until_idle(timeout=0.2)
    assert AlertRule.objects.get().firing_pipeline_ids == []
    release.set()
    assert ingest_evaluator.wait_until_idle(timeout=30)
    assert AlertRule.objects.get().firing_pipeline_ids == [pipeline.pk]


def test_pipelines_ingested_during_an_evaluation_are_evaluated_next(
    evaluate_on_ingest, monkeypatch
):
    client = ClientFactory(slug="acme")
    first = PipelineFactory(client=client, slug="orders")
    second = PipelineFactory(client=client, slug="invoices")
    fail_twice(first)
    fail_twice(second)
    AlertRuleFactory(client=client, threshold=2)
    release = threading.Event()
    batches: list[set[int]] = []

    def held_evaluation(*, pipeline_ids, **kwargs):
        batches.append(set(pipeline_ids))
        release.wait(timeout=30)
        return evaluate_alerts(pipeline_ids=pipeline_ids, **kwargs)

    monkeypatch.setattr(on_ingest, "evaluate_alerts", held_evaluation)
    terminal_runs_ingested.send(sender=None, pipeline_ids={first.pk})
    terminal_runs_ingested.send(sender=None, pipeline_ids={second.pk})
    terminal_runs_ingested.send(sender=None, pipeline_ids={second.pk})
    release.set()
    assert ingest_evaluator.wait_until_idle(timeout=30)
    assert batches in ([{first.pk}, {second.pk}], [{first.pk, second.pk}])
    assert AlertRule.objects.get().firing_pipeline_ids == sorted([first.pk, second.pk])


def test_nothing_is_evaluated_on_ingest_when_turned_off(settings):
    settings.CHM_ALERTS_EVALUATE_ON_INGEST = False
    pipeline = PipelineFactory(client=ClientFactory(slug="acme"), slug="orders")
    fail_twice(pipeline)
    AlertRuleFactory(client=pipeline.client, threshold=2)
    terminal_runs_ingested.send(sender=None, pipeline_ids={pipeline.pk})
    assert ingest_evaluator.wait_until_idle(timeout=30)
    assert AlertRule.objects.get().firing_pipeline_ids == []


def test_runs_ingested_through_the_ingestion_service_fire_the_rule(evaluate_on_ingest):
    from runs.ingest import ingest_runs

    pipeline = PipelineFactory(client=ClientFactory(slug="acme"), slug="orders")
    AlertRuleFactory(client=pipeline.client, name="orders failing", threshold=2)
    started = timezone.now() - dt.timedelta(minutes=10)
    ingest_runs(
        client=pipeline.client,
        items=[
            {
                "pipeline": "orders",
                "external_run_id": f"attempt-{offset}",
                "status": "failed",
                "started_at": (started + dt.timedelta(minutes=offset)).isoformat(),
                "finished_at": (started + dt.timedelta(minutes=offset, seconds=30)).isoformat(),
            }
            for offset in (0, 1)
        ],
    )
    assert ingest_evaluator.wait_until_idle(timeout=30)
    assert AlertRule.objects.get().firing_pipeline_ids == [pipeline.pk]
    assert len(mail.outbox) == 1
    assert "orders failing" in mail.outbox[0].subject
