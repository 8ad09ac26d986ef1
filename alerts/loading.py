"""The ``alert_rules`` of each client in an inventory document (inventory/loading.py): rules
are matched by (client, name), and a rule names a pipeline of its own client or none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from rest_framework import serializers

from alerts.kinds import rule_errors
from alerts.models import AlertRule, Channel, RuleKind, Severity
from inventory.loading import ClientSection, PathKey, StrictSerializer, upsert
from inventory.models import Client, Pipeline


class AlertRuleInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    pipeline = serializers.CharField(max_length=200, required=False, default=None, allow_null=True)
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    threshold = serializers.IntegerField(min_value=1)
    window_minutes = serializers.IntegerField(
        min_value=1, required=False, default=None, allow_null=True
    )
    min_runs = serializers.IntegerField(min_value=1, required=False, default=None, allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.WARNING)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.EMAIL)
    target = serializers.CharField(max_length=500)
    is_enabled = serializers.BooleanField(default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The same check as the admin's: webhooks are http(s) URLs, emails real addresses.
        target_errors = AlertRule.target_errors(attrs["channel"], attrs["target"])
        if target_errors:
            raise serializers.ValidationError({"target": target_errors})
        # What the kind needs (a window, a minimum number of runs, a bounded threshold): the
        # same definition as the model's clean() (alerts/kinds.py).
        errors = rule_errors(attrs)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def check_rules(
    client_slug: str, rules: list[dict[str, Any]], pipeline_slugs: set[str]
) -> list[tuple[PathKey, str]]:
    """Duplicate names, unknown pipelines, and names that several stored rules share."""
    errors: list[tuple[PathKey, str]] = []
    names: set[str] = set()
    for r, rule in enumerate(rules):
        if rule["name"] in names:
            errors.append(((r, "name"), "Duplicate rule name in this client."))
        names.add(rule["name"])
        if rule["pipeline"] is not None and rule["pipeline"] not in pipeline_slugs:
            errors.append(
                (
                    (r, "pipeline"),
                    f"Unknown pipeline {rule['pipeline']!r}: not in this client's pipelines.",
                )
            )
    ambiguous = (
        AlertRule.objects.filter(client__slug=client_slug, name__in=names)
        .values_list("name", flat=True)
        .order_by("name")
    )
    counted = Counter(ambiguous)
    for r, rule in enumerate(rules):
        if counted[rule["name"]] > 1:
            errors.append(
                (
                    (r, "name"),
                    "Several existing rules of this client have this name; rename them first.",
                )
            )
    return errors


def load_rules(
    client: Client, pipelines: dict[str, Pipeline], rules: list[dict[str, Any]]
) -> Iterator[str]:
    for rule_data in rules:
        pipeline_slug = rule_data["pipeline"]
        pipeline = None
        if pipeline_slug is not None:
            pipeline = pipelines.get(pipeline_slug) or Pipeline.objects.get(
                client=client, slug=pipeline_slug
            )
        values = {key: value for key, value in rule_data.items() if key != "name"}
        values["pipeline"] = pipeline
        _, outcome = upsert(
            AlertRule, lookup={"client": client, "name": rule_data["name"]}, values=values
        )
        yield outcome


ALERT_RULES = ClientSection(
    key="alert_rules", item=AlertRuleInput, check=check_rules, load=load_rules
)
