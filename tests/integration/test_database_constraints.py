"""The database itself refuses rows that break the domain's rules, whatever wrote them."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import RuleKind
from runs.models import Run, RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


def _refused(**kwargs) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        RunFactory(**kwargs)


def test_a_second_run_with_the_same_external_id_is_refused(pipeline):
    RunFactory(pipeline=pipeline, external_run_id="scheduled__2026-11-01")
    _refused(pipeline=pipeline, external_run_id="scheduled__2026-11-01")
    assert Run.objects.filter(pipeline=pipeline).count() == 1


def test_the_same_external_id_on_another_pipeline_is_a_different_run(pipeline):
    other = PipelineFactory(client=pipeline.client)
    RunFactory(pipeline=pipeline, external_run_id="42")
    RunFactory(pipeline=other, external_run_id="42")
    assert Run.objects.filter(external_run_id="42").count() == 2


def test_an_unknown_status_is_refused(pipeline):
    _refused(pipeline=pipeline, status="exploded")


def test_finished_before_started_is_refused(pipeline):
    start = timezone.now()
    _refused(pipeline=pipeline, started_at=start, finished_at=start - dt.timedelta(seconds=1))


def test_a_running_run_cannot_have_finished(pipeline):
    start = timezone.now()
    _refused(
        pipeline=pipeline,
        status=RunStatus.RUNNING,
        started_at=start,
        finished_at=start + dt.timedelta(minutes=1),
    )


def test_duration_is_derived_by_the_database(pipeline):
    start = timezone.now() - dt.timedelta(hours=1)
    run = RunFactory(
        pipeline=pipeline, started_at=start, finished_at=start + dt.timedelta(seconds=90)
    )
    run.refresh_from_db()
    assert run.duration == dt.timedelta(seconds=90)


def test_pipeline_slug_is_unique_within_its_client_only(pipeline):
    PipelineFactory(client=ClientFactory(slug="globex"), slug=pipeline.slug)
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineFactory(client=pipeline.client, slug=pipeline.slug)


def test_an_unknown_platform_is_refused(chm_client):
    with pytest.raises(IntegrityError), transaction.atomic():
        PipelineFactory(client=chm_client, platform="cobol-batch")


def test_an_alert_rule_on_another_clients_pipeline_is_refused(pipeline):
    other_client = ClientFactory(slug="globex")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertRuleFactory(client=other_client, pipeline=pipeline)
    # The same rule under the pipeline's own client is fine.
    AlertRuleFactory(client=pipeline.client, pipeline=pipeline)


@pytest.mark.parametrize(
    "fields",
    [
        {"threshold": 0},
        {"kind": RuleKind.FAILURE_RATE, "threshold": 101, "window_minutes": 60, "min_runs": 5},
        {"kind": RuleKind.FAILURE_RATE, "threshold": 50, "window_minutes": None, "min_runs": 5},
        {"target": ""},
        {"kind": "sometimes"},
    ],
)
def test_alert_rules_with_values_outside_their_domain_are_refused(chm_client, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertRuleFactory(client=chm_client, **fields)
