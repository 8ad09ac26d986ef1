from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
from django.core.management import CommandError, call_command

from alerts.models import AlertRule
from inventory.loading import InventoryError, load_inventory_text
from inventory.models import Client, Pipeline
from tests.factories import AlertRuleFactory, ClientFactory

pytestmark = pytest.mark.django_db

INVENTORY = dedent(
    """\
    version: 1
    clients:
      - slug: acme
        name: Acme Corp
        pipelines:
          - slug: orders-etl
            platform: airflow
            owner: data-platform
            freshness_minutes: 1440
          - slug: dbt-nightly
            platform: dbt
        alert_rules:
          - name: Orders failing
            kind: consecutive_failures
            threshold: 3
            pipeline: orders-etl
            target: oncall@acme.example
          - name: Everything flaky
            kind: failure_rate
            threshold: 20
            window_minutes: 1440
            min_runs: 5
            channel: webhook
            target: https://hooks.acme.example/chm
    """
)


def test_loading_creates_what_the_file_states(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)

    call_command("load_inventory", str(path))

    acme = Client.objects.get(slug="acme")
    assert acme.name == "Acme Corp" and acme.key_hash is None
    orders = Pipeline.objects.get(client=acme, slug="orders-etl")
    assert (orders.platform, orders.owner, orders.freshness_minutes) == (
        "airflow",
        "data-platform",
        1440,
    )
    assert Pipeline.objects.get(client=acme, slug="dbt-nightly").platform == "dbt"
    rule = AlertRule.objects.get(client=acme, name="Orders failing")
    assert rule.pipeline == orders
    assert AlertRule.objects.get(client=acme, name="Everything flaky").pipeline is None


def test_loading_twice_changes_nothing_the_second_time():
    first = load_inventory_text(text=INVENTORY)
    updated_at = Pipeline.objects.get(slug="orders-etl").updated_at

    second = load_inventory_text(text=INVENTORY)

    assert first.counts["pipelines"]["created"] == 2
    assert second.counts["pipelines"] == {"unchanged": 2}
    assert second.counts["alert_rules"] == {"unchanged": 2}
    assert Pipeline.objects.get(slug="orders-etl").updated_at == updated_at
    assert Pipeline.objects.count() == 2 and AlertRule.objects.count() == 2


def test_an_edited_file_updates_in_place_and_omitted_fields_take_their_default():
    load_inventory_text(text=INVENTORY)
    edited = INVENTORY.replace(
        "        owner: data-platform\n        freshness_minutes: 1440\n", ""
    )

    result = load_inventory_text(text=edited)

    orders = Pipeline.objects.get(slug="orders-etl")
    assert (orders.owner, orders.freshness_minutes) == ("", None)
    assert result.counts["pipelines"] == {"updated": 1, "unchanged": 1}


def test_loading_keeps_an_existing_key_and_never_deletes():
    client = ClientFactory(slug="acme")
    AlertRuleFactory(client=client, name="Hand-made rule")

    load_inventory_text(text=INVENTORY)

    client.refresh_from_db()
    assert client.key_hash and client.name == "Acme Corp"
    assert AlertRule.objects.filter(name="Hand-made rule").exists()


def test_a_bad_yaml_file_is_refused_whole_with_lines_and_paths():
    bad = INVENTORY.replace("platform: dbt", "platform: cobol").replace(
        "threshold: 20", "threshold: 120"
    )
    bad += "  - slug: Not A Slug\n    colour: blue\n"

    with pytest.raises(InventoryError) as caught:
        load_inventory_text(text=bad)

    wheres = {where for where, _ in caught.value.errors}
    assert "line 11: clients[0].pipelines[1].platform" in wheres
    assert "line 20: clients[0].alert_rules[1].threshold" in wheres
    assert "line 25: clients[1].slug" in wheres
    assert "line 26: clients[1].colour" in wheres
    assert not Client.objects.exists()


def test_a_rule_naming_a_pipeline_the_client_lacks_is_refused():
    bad = INVENTORY.replace("pipeline: orders-etl", "pipeline: payroll")

    with pytest.raises(InventoryError) as caught:
        load_inventory_text(text=bad)

    assert caught.value.errors == [
        (
            "line 16: clients[0].alert_rules[0].pipeline",
            "Unknown pipeline 'payroll': not in this client's pipelines.",
        )
    ]
    assert not Pipeline.objects.exists()


def test_duplicates_in_the_file_are_refused():
    document = {
        "clients": [
            {"slug": "acme", "pipelines": [{"slug": "a"}, {"slug": "a"}]},
            {"slug": "acme"},
        ]
    }

    with pytest.raises(InventoryError) as caught:
        load_inventory_text(text=json.dumps(document, indent=2))

    wheres = [where for where, _ in caught.value.errors]
    assert wheres == ["line 10: clients[0].pipelines[1].slug", "line 15: clients[1].slug"]


def test_the_command_reports_errors_and_writes_nothing(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_text('{"clients": [{"slug": "acme", "pipelines": [{"slug": "x", "platform": 3}]}]')

    with pytest.raises(CommandError, match="Invalid JSON"):
        call_command("load_inventory", str(path))
    assert not Client.objects.exists()


def test_a_dry_run_counts_and_rolls_back():
    result = load_inventory_text(text=INVENTORY, dry_run=True)

    assert result.counts["clients"] == {"created": 1}
    assert not Client.objects.exists()


def test_the_synthetic_base_inventory_loads_through_the_command():
    path = Path(__file__).resolve().parents[2] / "data/synthetic/v1.1/base/inventory.json"
    document = json.loads(path.read_text())

    call_command("load_inventory", str(path))

    assert Client.objects.count() == len(document["clients"])
    assert Pipeline.objects.count() == sum(len(c["pipelines"]) for c in document["clients"])
    assert AlertRule.objects.count() == sum(len(c["alert_rules"]) for c in document["clients"])
