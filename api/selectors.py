"""What the read API shows: every query is scoped to the key's client when there is one."""

from __future__ import annotations

from django.db.models import QuerySet

from alerts.models import AlertRule
from inventory.models import Client, Pipeline
from runs.models import Run


def visible_clients(client: Client | None) -> QuerySet[Client]:
    clients = Client.objects.all()
    return clients.filter(pk=client.pk) if client else clients


def visible_pipelines(client: Client | None) -> QuerySet[Pipeline]:
    pipelines = Pipeline.objects.select_related("client")
    return pipelines.filter(client=client) if client else pipelines


def visible_runs(client: Client | None) -> QuerySet[Run]:
    runs = Run.objects.select_related("pipeline__client")
    return runs.for_client(client) if client else runs


def visible_alert_rules(client: Client | None) -> QuerySet[AlertRule]:
    rules = AlertRule.objects.select_related("client", "pipeline").with_state()
    return rules.filter(client=client) if client else rules
