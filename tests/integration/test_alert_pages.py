from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from alerts.models import AlertRule, RuleKind, Severity
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


def fail_twice(pipeline) -> None:
    started = timezone.now() - dt.timedelta(minutes=30)
    for offset in (0, 1):
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=started + dt.timedelta(minutes=offset),
        )


@pytest.fixture
def firing_setup():
    acme = ClientFactory(slug="acme", name="Acme")
    orders = PipelineFactory(client=acme, slug="orders-etl")
    invoices = PipelineFactory(client=acme, slug="invoices")
    quiet = PipelineFactory(client=acme, slug="quiet")
    fail_twice(orders)
    fail_twice(invoices)
    RunFactory(pipeline=quiet, status=RunStatus.SUCCESS)
    AlertRuleFactory(
        client=acme, name="any acme pipeline failing", threshold=2, severity=Severity.WARNING
    )
    AlertRuleFactory(
        client=acme,
        pipeline=orders,
        name="orders critical",
        threshold=2,
        severity=Severity.CRITICAL,
    )
    AlertRuleFactory(client=acme, name="stuck runs", kind=RuleKind.LONG_RUNNING, threshold=60)
    evaluate_alerts(deliver=False)
    return orders, invoices, quiet


def test_the_overview_lists_firing_alerts_most_severe_first(staff_client, firing_setup):
    orders, invoices, _quiet = firing_setup
    page = staff_client.get(reverse("runs:overview")).content.decode()
    section = page.split('id="firing-alerts"')[1].split("</section>")[0]
    assert '<span class="count">3</span>' in section
    assert section.index("orders critical") < section.index("any acme pipeline failing")
    assert reverse("runs:pipeline-detail", args=[orders.pk]) in section
    assert reverse("runs:pipeline-detail", args=[invoices.pk]) in section
    assert "stuck runs" not in section
    assert "2 failed runs in a row since the last success (threshold 2)" in section
    assert "not acknowledged" in section


def test_the_pipeline_page_lists_only_its_own_firing_alerts(staff_client, firing_setup):
    orders, invoices, quiet = firing_setup
    page = staff_client.get(reverse("runs:pipeline-detail", args=[invoices.pk])).content.decode()
    section = page.split('id="firing-alerts"')[1].split("</section>")[0]
    assert "any acme pipeline failing" in section
    assert "orders critical" not in section
    assert '<span class="count">1</span>' in section

    page = staff_client.get(reverse("runs:pipeline-detail", args=[quiet.pk])).content.decode()
    assert "No alert rule is firing for this pipeline." in page


def test_disabled_rules_are_not_shown_as_firing(staff_client, firing_setup):
    AlertRule.objects.update(is_enabled=False)
    page = staff_client.get(reverse("runs:overview")).content.decode()
    assert "No alert rule is firing." in page


def test_the_firing_section_reads_alerts_in_one_query(staff_client, firing_setup):
    from alerts.selectors import firing_alerts

    with CaptureQueriesContext(connection) as queries:
        alerts = firing_alerts()
    assert len(alerts) == 3
    assert len(queries) == 1


def test_governance_counts_the_rules_firing_for_each_pipeline(firing_setup):
    from runs.reporting import ClientGovernance, PipelineGovernance

    orders, invoices, quiet = firing_setup
    firing = dict(PipelineGovernance.objects.values_list("pipeline_id", "firing_rules"))
    assert firing == {orders.pk: 2, invoices.pk: 1, quiet.pk: 0}
    assert ClientGovernance.objects.get(client_id=orders.client_id).firing_rules == 2
    # Once the pipelines recover, the next evaluation clears them from the count.
    for pipeline in (orders, invoices):
        RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=timezone.now())
    evaluate_alerts(deliver=False)
    assert set(PipelineGovernance.objects.values_list("firing_rules", flat=True)) == {0}
