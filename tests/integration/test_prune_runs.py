"""prune_runs deletes exactly the runs started before the cutoff, in batches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from runs.models import Run, RunStatus
from runs.reporting import (
    ClientHealth,
    DailyFailures,
    Flakiness,
    PipelineGovernance,
    PipelineLatestStatus,
    TriageEntry,
)
from runs.retention import prune_runs_started_before
from tests.factories import PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_prune_deletes_exactly_the_runs_started_before_the_cutoff():
    cutoff = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    pipeline = PipelineFactory()
    old = [
        RunFactory(pipeline=pipeline, started_at=cutoff - dt.timedelta(days=d))
        for d in (1, 40, 400)
    ]
    just_before = RunFactory(pipeline=pipeline, started_at=cutoff - dt.timedelta(microseconds=1))
    at_cutoff = RunFactory(pipeline=pipeline, started_at=cutoff)
    after = RunFactory(
        pipeline=pipeline, started_at=cutoff + dt.timedelta(hours=1), status=RunStatus.RUNNING
    )

    report = prune_runs_started_before(cutoff=cutoff, batch_size=2)

    assert report.deleted == 4
    assert report.batches == 2
    assert set(Run.objects.values_list("pk", flat=True)) == {at_cutoff.pk, after.pk}
    assert not Run.objects.filter(pk__in=[r.pk for r in [*old, just_before]]).exists()


def test_prune_with_nothing_to_delete_reports_zero():
    RunFactory(started_at=timezone.now())
    report = prune_runs_started_before(cutoff=timezone.now() - dt.timedelta(days=1))
    assert (report.deleted, report.batches) == (0, 0)
    assert Run.objects.count() == 1


def test_prune_refuses_a_naive_cutoff():
    with pytest.raises(ValueError, match="aware"):
        prune_runs_started_before(cutoff=dt.datetime(2026, 1, 1))  # noqa: DTZ001


def test_command_deletes_runs_older_than_the_given_days_and_says_how_many(capsys):
    now = timezone.now()
    pipeline = PipelineFactory()
    RunFactory.create_batch(3, pipeline=pipeline, started_at=now - dt.timedelta(days=31))
    kept = RunFactory(pipeline=pipeline, started_at=now - dt.timedelta(days=29))

    call_command("prune_runs", "--older-than", "30", "--batch-size", "2")

    out = capsys.readouterr().out
    assert out.startswith("Deleted 3 runs started before ")
    assert "in 2 batches" in out
    assert list(Run.objects.values_list("pk", flat=True)) == [kept.pk]


def test_dry_run_counts_without_deleting(capsys):
    RunFactory(started_at=timezone.now() - dt.timedelta(days=10))
    call_command("prune_runs", "--older-than", "7", "--dry-run")
    assert capsys.readouterr().out.startswith("Would delete 1 runs started before ")
    assert Run.objects.count() == 1


def test_command_refuses_a_non_positive_age():
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("prune_runs", "--older-than", "0")


def test_views_and_pages_still_answer_after_a_prune(staff_client):
    pipeline = PipelineFactory(slug="orders-etl")
    RunFactory.create_batch(
        2,
        pipeline=pipeline,
        status=RunStatus.FAILED,
        started_at=timezone.now() - dt.timedelta(days=100),
    )
    recent = RunFactory(pipeline=pipeline, started_at=timezone.now() - dt.timedelta(hours=2))
    call_command("prune_runs", "--older-than", "90")

    assert list(Run.objects.values_list("pk", flat=True)) == [recent.pk]
    latest = PipelineLatestStatus.objects.get(pipeline_id=pipeline.pk)
    assert latest.last_run_id == recent.pk
    for model in (DailyFailures, ClientHealth, TriageEntry, Flakiness, PipelineGovernance):
        list(model.objects.all())  # every view still answers over the pruned table
    for url in ("/", "/runs/", f"/pipelines/{pipeline.pk}/", "/flaky/", "/changes/"):
        assert staff_client.get(url).status_code == 200, url
