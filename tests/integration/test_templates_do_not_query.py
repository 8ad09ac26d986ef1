"""Templates never query: the views and selectors hand them everything they show.

Every page is rendered with the database closed to template rendering, so that a lazy
QuerySet, a related object or a form's choices read from a template fail here instead of
adding a query per row at 10,000 pipelines."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.db import connections
from django.template.base import Template
from django.urls import reverse
from django.utils import timezone

from alerts.evaluation import evaluate_alerts
from runs.models import Incident, RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db


class TemplateQueried(AssertionError):
    pass


def refuse(execute, sql, params, many, context):
    raise TemplateQueried(f"a template queried the database: {sql[:200]}")


@pytest.fixture
def templates_cannot_query(monkeypatch):
    render = Template.render

    def render_without_database(self, context):
        with contextlib.ExitStack() as stack:
            for connection in connections.all():
                stack.enter_context(connection.execute_wrapper(refuse))
            return render(self, context)

    monkeypatch.setattr(Template, "render", render_without_database)


@pytest.fixture
def world():
    acme = ClientFactory(slug="acme", name="Acme")
    orders = PipelineFactory(client=acme, slug="orders-etl", owner="data", freshness_minutes=60)
    started = timezone.now() - dt.timedelta(hours=3)
    for minutes in (0, 10, 20):
        RunFactory(
            pipeline=orders,
            status=RunStatus.FAILED,
            started_at=started + dt.timedelta(minutes=minutes),
        )
    # Failing as orders does: an incident of both.
    RunFactory(pipeline=PipelineFactory(), status=RunStatus.FAILED, started_at=started)
    AlertRuleFactory(client=acme, name="acme failing", threshold=2)
    AlertRuleFactory(client=acme, pipeline=orders, name="orders failing", threshold=3)
    evaluate_alerts(deliver=False)
    return acme, orders


def pages(acme, orders) -> list[str]:
    return [
        reverse("runs:overview"),
        reverse("runs:client-detail", args=[acme.slug]),
        reverse("runs:pipeline-detail", args=[orders.pk]),
        reverse("runs:run-list"),
        reverse("runs:run-list") + f"?client={acme.slug}&status=failed",
        reverse("runs:run-list") + "?after=not-a-cursor",
        reverse("runs:flaky"),
        reverse("runs:changes"),
        reverse("runs:freshness"),
        reverse("runs:governance"),
        reverse("runs:errors"),
        reverse("runs:incident-detail", args=[Incident.objects.get().incident_key]),
        reverse("dashboards:index"),
        reverse("dashboards:dashboard", args=["business"]),
        reverse("dashboards:dashboard", args=["operations"]),
    ]


def test_no_page_queries_from_its_templates(staff_client, world, templates_cannot_query):
    for url in pages(*world):
        response = staff_client.get(url)
        assert response.status_code in (200, 400), url


def test_the_guard_catches_a_template_that_queries(world, templates_cannot_query):
    from django.template import engines

    template = engines["django"].from_string("{% for p in pipelines %}{{ p.slug }}{% endfor %}")
    from inventory.models import Pipeline

    with pytest.raises(TemplateQueried):
        template.render({"pipelines": Pipeline.objects.all()})
