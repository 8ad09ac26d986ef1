import pytest
from django.urls import reverse

from inventory.keys import hash_key
from inventory.models import Client
from tests.factories import AlertRuleFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:inventory_client_changelist",
    "admin:inventory_pipeline_changelist",
    "admin:runs_run_changelist",
    "admin:alerts_alertrule_changelist",
]


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_admin_lists_redirect_anonymous_users_to_the_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_admin_lists_load_for_staff(staff_client, pipeline, url_name):
    RunFactory(pipeline=pipeline, external_run_id="visible-run")
    AlertRuleFactory(client=pipeline.client, pipeline=pipeline, name="orders failing")
    response = staff_client.get(reverse(url_name))
    assert response.status_code == 200


def test_the_runs_list_shows_runs_read_only(staff_client, pipeline):
    run = RunFactory(pipeline=pipeline, external_run_id="scheduled__2026-11-24")
    listing = staff_client.get(reverse("admin:runs_run_changelist"))
    assert b"scheduled__2026-11-24" in listing.content
    detail = staff_client.get(reverse("admin:runs_run_change", args=[run.pk]))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content


def test_the_runs_list_does_not_count_the_whole_table(
    staff_client, pipeline, django_assert_max_num_queries
):
    RunFactory.create_batch(30, pipeline=pipeline)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse("admin:runs_run_changelist"))
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "runs_run" in q["sql"]]
    assert counts, "the changelist should count its (capped) result"
    assert all("LIMIT" in sql.upper() for sql in counts)


def test_rotating_keys_from_the_admin_shows_each_new_key_once(staff_client, chm_client):
    old_hash = chm_client.key_hash
    response = staff_client.post(
        reverse("admin:inventory_client_changelist"),
        {"action": "rotate_keys", "_selected_action": [chm_client.pk]},
    )
    assert response.status_code == 200
    chm_client.refresh_from_db()
    assert chm_client.key_hash != old_hash
    shown = response.context["keys"][0][1]
    assert hash_key(shown) == chm_client.key_hash
    assert shown.encode() in response.content
    # The list page afterwards shows only the prefix.
    listing = staff_client.get(reverse("admin:inventory_client_changelist"))
    assert shown.encode() not in listing.content
    assert chm_client.key_prefix.encode() in listing.content


def test_adding_a_client_in_the_admin_shows_its_first_key(staff_client):
    response = staff_client.post(
        reverse("admin:inventory_client_add"),
        {"slug": "initech", "name": "Initech", "is_active": "on"},
    )
    assert response.status_code == 200
    client = Client.objects.get(slug="initech")
    shown = response.context["keys"][0][1]
    assert hash_key(shown) == client.key_hash


def test_pipeline_autocomplete_and_filters_load(staff_client, pipeline):
    PipelineFactory(client=pipeline.client, platform="dbt")
    response = staff_client.get(
        reverse("admin:inventory_pipeline_changelist"), {"platform__exact": "dbt"}
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    autocomplete = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "alerts",
            "model_name": "alertrule",
            "field_name": "pipeline",
            "term": "orders",
        },
    )
    assert autocomplete.status_code == 200
    assert autocomplete.json()["results"][0]["id"] == str(pipeline.pk)


def test_rotating_a_key_is_recorded_in_the_clients_history_and_the_log(
    staff_client, chm_client, caplog
):
    from django.contrib.admin.models import LogEntry

    with caplog.at_level("INFO", logger="chm.audit"):
        staff_client.post(
            reverse("admin:inventory_client_changelist"),
            {"action": "rotate_keys", "_selected_action": [chm_client.pk]},
        )

    chm_client.refresh_from_db()
    [entry] = LogEntry.objects.filter(object_id=str(chm_client.pk))
    assert entry.user.username == "oncall"
    assert f"new prefix {chm_client.key_prefix}" in entry.get_change_message()
    assert f"staff user oncall, on client {chm_client}" in caplog.text
