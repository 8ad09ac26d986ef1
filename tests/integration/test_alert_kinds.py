"""Each rule kind is defined once (alerts/kinds.py): the model's choices and clean(), the
inventory loader, the evaluation and the pages all read that definition."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from alerts.kinds import KINDS
from alerts.models import AlertRule, RuleKind
from inventory.loading import InventoryError, load_inventory_text
from tests.factories import AlertRuleFactory

pytestmark = pytest.mark.django_db


def test_the_model_offers_exactly_the_defined_kinds():
    assert dict(RuleKind.choices) == {value: kind.label for value, kind in KINDS.items()}


def clean_errors(**fields) -> dict[str, list[str]]:
    rule = AlertRuleFactory.build(**fields)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean(exclude=["client"])
    return caught.value.message_dict


def loader_errors(rule_yaml: str) -> dict[str, str]:
    text = f"""\
version: 1
clients:
  - slug: acme
    alert_rules:
      - name: rate
        target: oncall@example.com
{rule_yaml}"""
    with pytest.raises(InventoryError) as caught:
        load_inventory_text(text=text)
    return {where.rsplit(".", 1)[1]: message for where, message in caught.value.errors}


def test_clean_and_the_inventory_loader_refuse_the_same_failure_rate_rule():
    from_model = clean_errors(kind=RuleKind.FAILURE_RATE, threshold=150)
    from_file = loader_errors("        kind: failure_rate\n        threshold: 150\n")
    assert set(from_model) == set(from_file) == {"threshold", "window_minutes", "min_runs"}
    for field, messages in from_model.items():
        assert from_file[field] in messages
    assert from_file["threshold"] == "A failure rate is a percentage: at most 100."
    assert not AlertRule.objects.exists()


def test_other_kinds_need_no_window(pipeline):
    for kind in (RuleKind.CONSECUTIVE_FAILURES, RuleKind.STALE, RuleKind.LONG_RUNNING):
        AlertRuleFactory.build(client=pipeline.client, kind=kind, threshold=500).full_clean()


def test_the_pipeline_page_describes_each_rule_by_its_kind(staff_client, pipeline):
    AlertRuleFactory(client=pipeline.client, kind=RuleKind.CONSECUTIVE_FAILURES, threshold=3)
    AlertRuleFactory(
        client=pipeline.client,
        kind=RuleKind.FAILURE_RATE,
        threshold=25,
        window_minutes=1440,
        min_runs=5,
    )
    AlertRuleFactory(client=pipeline.client, kind=RuleKind.STALE, threshold=120)
    AlertRuleFactory(client=pipeline.client, kind=RuleKind.LONG_RUNNING, threshold=90)
    page = staff_client.get(reverse("runs:pipeline-detail", args=[pipeline.pk])).content.decode()
    for condition in (
        "3 failures in a row",
        "failure rate ≥ 25 % over 1 d (at least 5 runs)",
        "no success within 2 h",
        "running longer than 90 min",
    ):
        assert condition in page
