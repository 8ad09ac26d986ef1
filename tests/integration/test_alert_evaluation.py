from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.evaluation import evaluate_alerts, find_conditions
from alerts.models import AlertEvent, AlertRule, AlertState, EventKind, Notification, RuleKind
from inventory.models import Pipeline
from runs.models import RunStatus
from tests.factories import (
    AlertRuleFactory,
    AlertStateFactory,
    ClientFactory,
    PipelineFactory,
    RunFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def minutes_ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


def add_runs(pipeline: Pipeline, *statuses: str, start_minutes_ago: float = 120) -> list:
    """Runs in the given order, oldest first, one minute apart, ending well before NOW."""
    return [
        RunFactory(
            pipeline=pipeline,
            status=status,
            started_at=minutes_ago(start_minutes_ago - index),
            finished_at=None
            if status in (RunStatus.QUEUED, RunStatus.RUNNING)
            else minutes_ago(start_minutes_ago - index - 0.5),
        )
        for index, status in enumerate(statuses)
    ]


def evaluate(**kwargs) -> object:
    return evaluate_alerts(now=NOW, deliver=False, **kwargs)


def firing_on(rule: AlertRule) -> list[int]:
    rule.refresh_from_db()
    return rule.firing_pipeline_ids


def open_alert(rule: AlertRule, pipeline: Pipeline) -> AlertState:
    return AlertState.objects.open().get(rule=rule, pipeline=pipeline)


def queued(rule: AlertRule) -> list[str]:
    """What the rule's notifications say, oldest first."""
    return list(
        Notification.objects.filter(rule=rule).order_by("pk").values_list("state", flat=True)
    )


# --- consecutive failures ---------------------------------------------------------------------


def test_consecutive_failures_fire_at_exactly_the_threshold(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=3)
    runs = add_runs(pipeline, "success", "failed", "failed", "failed")
    evaluate()
    rule.refresh_from_db()
    assert rule.firing_pipeline_ids == [pipeline.pk]
    # The triggering runs, newest first.
    alert = open_alert(rule, pipeline)
    assert alert.run_ids == [runs[3].pk, runs[2].pk, runs[1].pk]
    assert alert.summary == "3 failed runs in a row since the last success (threshold 3)"
    assert alert.fired_at == NOW
    assert AlertEvent.objects.get(alert=alert).kind == EventKind.FIRED


def test_consecutive_failures_one_below_the_threshold_do_not_fire(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=3)
    add_runs(pipeline, "failed", "success", "failed", "failed")
    evaluate()
    assert firing_on(rule) == []


def test_canceled_skipped_and_running_runs_neither_clear_nor_extend_the_streak(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=3)
    add_runs(pipeline, "success", "failed", "canceled", "failed", "skipped", "failed", "running")
    evaluate()
    assert firing_on(rule) == [pipeline.pk]


def test_consecutive_failures_resolve_after_a_success(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=2)
    add_runs(pipeline, "failed", "failed", start_minutes_ago=120)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]

    add_runs(pipeline, "success", start_minutes_ago=30)
    report = evaluate()
    assert firing_on(rule) == []
    assert report.resolved == [(rule.pk, pipeline.pk)]
    assert AlertState.objects.get(rule=rule).resolved_at == NOW
    assert queued(rule) == ["firing", "resolved"]
    history = AlertEvent.objects.filter(rule=rule).order_by("pk").values_list("kind", flat=True)
    assert list(history) == [EventKind.FIRED, EventKind.RESOLVED]


def test_an_unchanged_state_queues_nothing_new(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=2)
    add_runs(pipeline, "failed", "failed")
    evaluate()
    add_runs(pipeline, "failed", start_minutes_ago=10)
    report = evaluate()
    rule.refresh_from_db()
    assert report.fired == [] and report.resolved == []
    assert queued(rule) == ["firing"]
    assert AlertState.objects.filter(rule=rule).count() == 1
    assert rule.last_evaluated_at == NOW


# --- failure rate -----------------------------------------------------------------------------


def rate_rule(pipeline: Pipeline, *, threshold: int, min_runs: int = 4) -> AlertRule:
    return AlertRuleFactory(
        client=pipeline.client,
        pipeline=pipeline,
        kind=RuleKind.FAILURE_RATE,
        threshold=threshold,
        window_minutes=60,
        min_runs=min_runs,
    )


def test_failure_rate_fires_at_exactly_the_threshold(pipeline):
    rule = rate_rule(pipeline, threshold=40)
    # 2 failed of 5 = 40 %; canceled and skipped runs stay out of the rate.
    add_runs(
        pipeline,
        "success",
        "failed",
        "canceled",
        "success",
        "failed",
        "skipped",
        "success",
        start_minutes_ago=50,
    )
    evaluate()
    rule.refresh_from_db()
    assert rule.firing_pipeline_ids == [pipeline.pk]
    assert "2 of 5" in open_alert(rule, pipeline).summary


def test_failure_rate_one_point_below_the_threshold_does_not_fire(pipeline):
    rule = rate_rule(pipeline, threshold=41)
    add_runs(pipeline, "success", "failed", "success", "failed", "success", start_minutes_ago=50)
    evaluate()
    assert firing_on(rule) == []


def test_failure_rate_needs_the_minimum_number_of_finished_runs(pipeline):
    rule = rate_rule(pipeline, threshold=50, min_runs=4)
    add_runs(pipeline, "failed", "failed", "success", "running", start_minutes_ago=50)
    evaluate()
    assert firing_on(rule) == []  # 3 finished runs, one below the minimum
    add_runs(pipeline, "success", start_minutes_ago=20)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]  # 2 of 4


def test_failure_rate_only_counts_runs_in_the_window(pipeline):
    rule = rate_rule(pipeline, threshold=50, min_runs=2)
    add_runs(pipeline, "failed", "failed", "failed", start_minutes_ago=200)
    add_runs(pipeline, "success", "success", start_minutes_ago=30)
    evaluate()
    assert firing_on(rule) == []


def test_failure_rate_resolves_when_the_rate_drops(pipeline):
    rule = rate_rule(pipeline, threshold=50, min_runs=2)
    add_runs(pipeline, "failed", "failed", start_minutes_ago=50)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]
    add_runs(pipeline, "success", "success", "success", start_minutes_ago=20)
    evaluate()
    assert firing_on(rule) == []


# --- stale ------------------------------------------------------------------------------------


def stale_rule(pipeline: Pipeline, minutes: int = 60) -> AlertRule:
    return AlertRuleFactory(
        client=pipeline.client, pipeline=pipeline, kind=RuleKind.STALE, threshold=minutes
    )


def succeed(pipeline: Pipeline, *, finished_minutes_ago: float) -> None:
    RunFactory(
        pipeline=pipeline,
        status=RunStatus.SUCCESS,
        started_at=minutes_ago(finished_minutes_ago + 5),
        finished_at=minutes_ago(finished_minutes_ago),
    )


def test_stale_fires_when_the_last_success_is_exactly_the_threshold_old(pipeline):
    rule = stale_rule(pipeline, 60)
    succeed(pipeline, finished_minutes_ago=60)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]


def test_stale_does_not_fire_one_minute_before_the_threshold(pipeline):
    rule = stale_rule(pipeline, 60)
    succeed(pipeline, finished_minutes_ago=59)
    evaluate()
    assert firing_on(rule) == []


def test_stale_counts_only_successes(pipeline):
    rule = stale_rule(pipeline, 60)
    succeed(pipeline, finished_minutes_ago=90)
    add_runs(pipeline, "failed", "failed", start_minutes_ago=20)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]


def test_stale_resolves_after_a_new_success(pipeline):
    rule = stale_rule(pipeline, 60)
    succeed(pipeline, finished_minutes_ago=90)
    evaluate()
    assert firing_on(rule) == [pipeline.pk]
    succeed(pipeline, finished_minutes_ago=1)
    evaluate()
    assert firing_on(rule) == []


def test_stale_leaves_out_pipelines_that_never_ran_and_expect_nothing(chm_client):
    never_ran = PipelineFactory(client=chm_client, slug="not-started-yet")
    expected = PipelineFactory(client=chm_client, slug="hourly-export", freshness_minutes=60)
    failing_only = PipelineFactory(client=chm_client, slug="never-succeeded")
    add_runs(failing_only, "failed")
    # All three were registered two hours ago.
    Pipeline.objects.update(created_at=minutes_ago(120))
    rule = AlertRuleFactory(client=chm_client, kind=RuleKind.STALE, threshold=60)
    evaluate()
    assert firing_on(rule) == sorted([expected.pk, failing_only.pk])
    assert never_ran.pk not in rule.firing_pipeline_ids


def test_stale_gives_a_newly_registered_pipeline_its_full_window(chm_client):
    fresh = PipelineFactory(client=chm_client, slug="just-added", freshness_minutes=30)
    Pipeline.objects.filter(pk=fresh.pk).update(created_at=minutes_ago(59))
    rule = AlertRuleFactory(client=chm_client, kind=RuleKind.STALE, threshold=60)
    evaluate()
    assert firing_on(rule) == []


# --- long running -----------------------------------------------------------------------------


def long_running_rule(pipeline: Pipeline, minutes: int = 90) -> AlertRule:
    return AlertRuleFactory(
        client=pipeline.client, pipeline=pipeline, kind=RuleKind.LONG_RUNNING, threshold=minutes
    )


def test_long_running_fires_for_a_run_running_exactly_the_threshold(pipeline):
    rule = long_running_rule(pipeline, 90)
    run = RunFactory(pipeline=pipeline, status=RunStatus.RUNNING, started_at=minutes_ago(90))
    evaluate()
    rule.refresh_from_db()
    assert rule.firing_pipeline_ids == [pipeline.pk]
    assert open_alert(rule, pipeline).run_ids == [run.pk]


def test_long_running_does_not_fire_one_minute_before_the_threshold(pipeline):
    rule = long_running_rule(pipeline, 90)
    RunFactory(pipeline=pipeline, status=RunStatus.RUNNING, started_at=minutes_ago(89))
    # Finished or queued runs that started long ago are not running.
    RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=minutes_ago(300))
    RunFactory(pipeline=pipeline, status=RunStatus.QUEUED, started_at=minutes_ago(300))
    evaluate()
    assert firing_on(rule) == []


def test_long_running_resolves_when_the_run_finishes(pipeline):
    rule = long_running_rule(pipeline, 90)
    run = RunFactory(pipeline=pipeline, status=RunStatus.RUNNING, started_at=minutes_ago(120))
    evaluate()
    assert firing_on(rule) == [pipeline.pk]
    run.status, run.finished_at = RunStatus.SUCCESS, minutes_ago(1)
    run.save()
    evaluate()
    assert firing_on(rule) == []


# --- scope ------------------------------------------------------------------------------------


def test_a_client_wide_rule_covers_every_active_pipeline_of_its_client_and_no_other():
    acme = ClientFactory(slug="acme-co")
    other = ClientFactory(slug="globex")
    first = PipelineFactory(client=acme, slug="orders")
    second = PipelineFactory(client=acme, slug="invoices")
    retired = PipelineFactory(client=acme, slug="legacy", is_active=False)
    foreign = PipelineFactory(client=other, slug="orders")
    for pipeline in (first, second, retired, foreign):
        add_runs(pipeline, "failed", "failed")
    rule = AlertRuleFactory(client=acme, threshold=2)
    evaluate()
    assert firing_on(rule) == sorted([first.pk, second.pk])


def test_a_pipeline_rule_covers_only_its_pipeline(chm_client):
    watched = PipelineFactory(client=chm_client, slug="watched")
    neighbour = PipelineFactory(client=chm_client, slug="neighbour")
    for pipeline in (watched, neighbour):
        add_runs(pipeline, "failed", "failed")
    rule = AlertRuleFactory(client=chm_client, pipeline=watched, threshold=2)
    evaluate()
    assert firing_on(rule) == [watched.pk]


def test_deactivating_a_firing_pipeline_resolves_it(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, threshold=2)
    add_runs(pipeline, "failed", "failed")
    evaluate()
    assert firing_on(rule) == [pipeline.pk]
    Pipeline.objects.filter(pk=pipeline.pk).update(is_active=False)
    report = evaluate()
    assert firing_on(rule) == []
    assert report.resolved == [(rule.pk, pipeline.pk)]


def test_a_disabled_rule_stops_firing_without_a_notification(pipeline):
    rule = AlertRuleFactory(client=pipeline.client, threshold=2)
    add_runs(pipeline, "failed", "failed")
    evaluate()
    AlertRule.objects.filter(pk=rule.pk).update(is_enabled=False)
    evaluate()
    assert firing_on(rule) == []
    assert queued(rule) == ["firing"]
    closed = AlertEvent.objects.filter(rule=rule, kind=EventKind.RESOLVED).get()
    assert "rule was disabled" in closed.note


def test_evaluating_some_pipelines_keeps_the_state_of_the_others(chm_client):
    first = PipelineFactory(client=chm_client, slug="first")
    second = PipelineFactory(client=chm_client, slug="second")
    for pipeline in (first, second):
        add_runs(pipeline, "failed", "failed")
    rule = AlertRuleFactory(client=chm_client, threshold=2)
    evaluate()
    for pipeline in (first, second):
        add_runs(pipeline, "success", start_minutes_ago=10)
    evaluate(pipeline_ids={first.pk})
    assert firing_on(rule) == [second.pk]


# --- set-based SQL ----------------------------------------------------------------------------


def rules_of_every_kind(client) -> list[AlertRule]:
    return [
        AlertRuleFactory(client=client, kind=RuleKind.CONSECUTIVE_FAILURES, threshold=2),
        AlertRuleFactory(
            client=client,
            kind=RuleKind.FAILURE_RATE,
            threshold=50,
            window_minutes=240,
            min_runs=2,
        ),
        AlertRuleFactory(client=client, kind=RuleKind.STALE, threshold=30),
        AlertRuleFactory(client=client, kind=RuleKind.LONG_RUNNING, threshold=30),
    ]


def test_conditions_take_one_query_per_rule_kind_whatever_the_number_of_pipelines(chm_client):
    rules = rules_of_every_kind(chm_client) + rules_of_every_kind(chm_client)
    for index in range(12):
        pipeline = PipelineFactory(client=chm_client, slug=f"etl-{index}")
        add_runs(pipeline, "failed", "failed", "running")
    Pipeline.objects.update(created_at=minutes_ago(600))  # old enough to be stale
    with CaptureQueriesContext(connection) as queries:
        held = find_conditions(AlertRule.objects.all(), now=NOW)
    assert len(queries) == 1 + 4  # the rules, then one query per kind
    assert all(len(held[rule.pk]) == 12 for rule in rules)


def test_a_whole_evaluation_does_not_grow_with_the_number_of_pipelines():
    def queries_for(pipelines: int) -> int:
        client = ClientFactory()
        rules_of_every_kind(client)
        for index in range(pipelines):
            add_runs(PipelineFactory(client=client, slug=f"job-{index}"), "failed", "failed")
        with CaptureQueriesContext(connection) as queries:
            evaluate_alerts(now=NOW, deliver=False, pipeline_ids=None)
        AlertRule.objects.filter(client=client).delete()
        return len(queries)

    assert queries_for(2) == queries_for(15)


# --- races ------------------------------------------------------------------------------------


def test_an_evaluator_that_loses_the_race_to_fire_reads_again_and_notifies_nothing(
    pipeline, monkeypatch
):
    """Another evaluator opens the alert between this one's read of the state and its insert:
    the insert matches nothing, this evaluator reads the state and conditions again, finds
    the alert open and the condition holding, and leaves it to the other one."""
    from alerts import evaluation

    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=2)
    add_runs(pipeline, "failed", "failed")
    real = evaluation.find_conditions
    calls = []

    def conditions_then_the_other_evaluator(*args, **kwargs):
        calls.append(kwargs.get("pipeline_ids"))
        held = real(*args, **kwargs)
        if len(calls) == 1:
            AlertStateFactory(rule=rule, pipeline=pipeline, fired_at=NOW)
        return held

    monkeypatch.setattr(evaluation, "find_conditions", conditions_then_the_other_evaluator)
    report = evaluate()

    assert report.fired == []
    assert calls == [None, {pipeline.pk}]  # the whole pass, then the lost subject again
    assert AlertState.objects.count() == 1
    assert not Notification.objects.exists() and not AlertEvent.objects.exists()


def test_an_evaluator_that_loses_the_race_to_resolve_reads_the_new_firing_again(
    pipeline, monkeypatch
):
    """This evaluator saw the alert open and its condition gone; meanwhile another resolved
    it and, with newer runs, opened a new one. The resolution matches nothing; reading again,
    the new alert's condition holds: nothing more is recorded or sent."""
    from alerts import evaluation

    rule = AlertRuleFactory(client=pipeline.client, pipeline=pipeline, threshold=2)
    add_runs(pipeline, "failed", "failed", start_minutes_ago=120)
    evaluate()
    add_runs(pipeline, "success", start_minutes_ago=60)
    real = evaluation.find_conditions
    calls = []

    def conditions_then_the_other_evaluator(*args, **kwargs):
        calls.append(kwargs.get("pipeline_ids"))
        held = real(*args, **kwargs)
        if len(calls) == 1:
            AlertState.objects.filter(rule=rule).update(resolved_at=NOW)
            add_runs(pipeline, "failed", "failed", start_minutes_ago=30)
            AlertStateFactory(rule=rule, pipeline=pipeline, fired_at=NOW)
        return held

    monkeypatch.setattr(evaluation, "find_conditions", conditions_then_the_other_evaluator)
    report = evaluate()

    assert report.resolved == [] and report.fired == []
    assert calls == [None, {pipeline.pk}]
    assert AlertState.objects.open().count() == 1
    assert queued(rule) == ["firing"]  # the first evaluation's, nothing from this one
