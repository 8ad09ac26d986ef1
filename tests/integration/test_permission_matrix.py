"""Every page, admin page, admin action and API endpoint against every staff role (none of
them a superuser), anonymous visitors and client keys: who gets in, and who can act.

The roles are chm_project/roles.py's. Coverage tests make sure a new page, admin or API
route cannot be added without a row here.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib import admin
from django.core import mail
from django.urls import get_resolver, reverse
from django.utils import timezone

from alerts.models import (
    AlertEvent,
    AlertState,
    EventKind,
    MaintenanceWindow,
    Notification,
    Silence,
)
from chm_project.roles import ADMINS, OPERATORS, VIEWERS
from inventory.models import Client
from runs.models import Incident
from tests.conftest import staff_with_role
from tests.factories import (
    AlertRuleFactory,
    AlertStateFactory,
    ClientFactory,
    PipelineFactory,
    RunFactory,
)
from tests.integration.test_alert_admin import rule_form

pytestmark = pytest.mark.django_db

ROLES = {"no role": None, "viewer": VIEWERS, "operator": OPERATORS, "admin": ADMINS}
WHO = ["anonymous", *ROLES, "client key"]


@pytest.fixture
def world(chm_client):
    pipeline = PipelineFactory(client=chm_client, slug="orders-etl")
    run = RunFactory(pipeline=pipeline)
    rule = AlertRuleFactory(client=chm_client, target="ops@example.com")
    # Two pipelines failing alike: an incident, for its page.
    for other in (pipeline, PipelineFactory(client=chm_client)):
        RunFactory(pipeline=other, status="failed", error_message="permission denied")
    (incident_key,) = Incident.objects.values_list("incident_key", flat=True)
    alert = AlertStateFactory(rule=rule, pipeline=pipeline)
    now = timezone.now()
    silence = Silence.objects.create(
        rule=rule, starts_at=now, ends_at=now + dt.timedelta(hours=1), created_at=now
    )
    window = MaintenanceWindow.objects.create(
        pipeline=pipeline, starts_at=now, ends_at=now + dt.timedelta(hours=1), created_at=now
    )
    event = AlertEvent.objects.create(
        alert=alert, rule=rule, pipeline=pipeline, kind=EventKind.FIRED, at=now
    )
    notification = Notification.objects.create(
        alert=alert, rule=rule, state="firing", channel="email", payload={}, created_at=now
    )
    return {
        "client": chm_client,
        "pipeline": pipeline,
        "run": run,
        "rule": rule,
        "incident_key": incident_key,
        "alert": alert,
        "silence": silence,
        "window": window,
        "event": event,
        "notification": notification,
    }


@pytest.fixture
def as_who(client, django_user_model, world):
    """The test client as ``who``; for a client key, the headers to send."""

    def as_who(who: str) -> dict:
        if who in ROLES:
            client.force_login(staff_with_role(django_user_model, f"staff-{who}", ROLES[who]))
        if who == "client key":
            return {"HTTP_AUTHORIZATION": f"Bearer {world['client'].raw_key}"}
        return {}

    return as_who


# --- pages --------------------------------------------------------------------------------

PAGES = {
    "runs:overview": lambda w: [],
    "runs:client-detail": lambda w: [w["client"].slug],
    "runs:pipeline-detail": lambda w: [w["pipeline"].pk],
    "runs:run-list": lambda w: [],
    "runs:flaky": lambda w: [],
    "runs:changes": lambda w: [],
    "runs:freshness": lambda w: [],
    "runs:governance": lambda w: [],
    "runs:errors": lambda w: [],
    "runs:incident-detail": lambda w: [w["incident_key"]],
    "dashboards:index": lambda w: [],
    "dashboards:dashboard": lambda w: ["business"],
    "dashboards:panel-csv": lambda w: ["operations", "q06-triage"],
    "runs:table-csv": lambda w: ["failing-now"],
    "alerts:firing": lambda w: [],
    "alerts:silences": lambda w: [],
    "alerts:maintenance": lambda w: [],
    "alerts:rule-history": lambda w: [w["rule"].pk],
    "alerts:pipeline-history": lambda w: [w["pipeline"].pk],
}
PAGE_ANSWER = {
    "anonymous": 302,
    "no role": 403,
    "viewer": 200,
    "operator": 200,
    "admin": 200,
    "client key": 302,
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", PAGES)
def test_pages(client, as_who, world, name, who):
    headers = as_who(who)
    response = client.get(reverse(name, args=PAGES[name](world)), **headers)
    assert response.status_code == PAGE_ANSWER[who]
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("admin:login"))


def test_every_page_is_in_the_matrix():
    names = set()
    for pattern in get_resolver().url_patterns:
        namespace = getattr(pattern, "namespace", None)
        if namespace in ("runs", "dashboards", "alerts"):
            names |= {f"{namespace}:{p.name}" for p in pattern.url_patterns}
    assert names == set(PAGES) | set(ALERT_ACTIONS)


# --- alert actions (POST forms on the alert pages) --------------------------------------------

ACTING = {"operator", "admin"}
# Who is answered what: operators and admins are sent back to the page; viewers and staff
# without a role are refused; anonymous visitors and client keys go to the login.
ACTION_ANSWER = {
    "anonymous": 302,
    "no role": 403,
    "viewer": 403,
    "client key": 302,
} | dict.fromkeys(ACTING, 302)


def _acknowledged(w) -> bool:
    return AlertState.objects.get(pk=w["alert"].pk).acknowledged_at is not None


def _silence_ended(w) -> bool:
    return Silence.objects.get(pk=w["silence"].pk).ends_at <= timezone.now()


def _window_ended(w) -> bool:
    return MaintenanceWindow.objects.get(pk=w["window"].pk).ends_at <= timezone.now()


def _silenced_pipeline(w) -> bool:
    return Silence.objects.filter(pipeline=w["pipeline"], rule__isnull=True).exists()


def _scheduled(w) -> bool:
    return MaintenanceWindow.objects.filter(client=w["client"]).exists()


LATER = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
# URL name → (its arguments, the form posted, whether it took effect).
ALERT_ACTIONS = {
    "alerts:acknowledge": (lambda w: [w["alert"].pk], lambda w: {}, _acknowledged),
    "alerts:end-silence": (lambda w: [w["silence"].pk], lambda w: {}, _silence_ended),
    "alerts:end-maintenance": (lambda w: [w["window"].pk], lambda w: {}, _window_ended),
}
ALERT_FORMS = {
    "alerts:silences": (
        lambda w: {"pipeline": str(w["pipeline"].pk), "until": LATER, "reason": "weekend"},
        _silenced_pipeline,
    ),
    "alerts:maintenance": (
        lambda w: {
            "client": w["client"].slug,
            "starts_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
            "ends_at": LATER,
        },
        _scheduled,
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", ALERT_ACTIONS)
def test_alert_actions_are_for_operators_and_admins(client, as_who, world, name, who):
    headers = as_who(who)
    args, data, took_effect = ALERT_ACTIONS[name]
    response = client.post(reverse(name, args=args(world)), data(world), **headers)
    assert response.status_code == ACTION_ANSWER[who]
    assert took_effect(world) == (who in ACTING)
    if who in ACTING:
        # Only POST: a link (GET) cannot act.
        assert client.get(reverse(name, args=args(world))).status_code == 405


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", ALERT_FORMS)
def test_silencing_and_scheduling_maintenance_are_for_operators_and_admins(
    client, as_who, world, name, who
):
    headers = as_who(who)
    data, took_effect = ALERT_FORMS[name]
    response = client.post(reverse(name), data(world), **headers)
    assert response.status_code == ACTION_ANSWER[who]
    assert took_effect(world) == (who in ACTING)


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_viewers_see_no_action_buttons_on_the_alert_pages(client, as_who, world, who):
    as_who(who)
    for url in (
        reverse("alerts:firing"),
        reverse("runs:overview"),
        reverse("alerts:silences"),
        reverse("alerts:maintenance"),
    ):
        body = client.get(url).content.decode()
        assert ('method="post"' in body) == (who == "operator"), url


# --- admin pages --------------------------------------------------------------------------

ADMIN_OBJECTS = {
    "client": "client",
    "pipeline": "pipeline",
    "run": "run",
    "alertrule": "rule",
    "alertstate": "alert",
    "alertevent": "event",
    "notification": "notification",
    "silence": "silence",
    "maintenancewindow": "window",
}
APP_OF = {"client": "inventory", "pipeline": "inventory", "run": "runs"} | dict.fromkeys(
    ["alertrule", "alertstate", "alertevent", "notification", "silence", "maintenancewindow"],
    "alerts",
)
# Alert state is an operational record: every role reads it in the admin, nobody edits it.
OPERATIONAL = ["alertstate", "alertevent", "notification", "silence", "maintenancewindow"]
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
# Who may open each admin page (200); every other staff user gets 403, anonymous the login.
ADMIN_PAGES = {
    ("client", "changelist"): {VIEWER, OPERATOR, ADMIN},
    ("client", "change"): {VIEWER, OPERATOR, ADMIN},
    ("client", "history"): {VIEWER, OPERATOR, ADMIN},
    ("client", "add"): {ADMIN},
    ("client", "delete"): {ADMIN},
    ("pipeline", "changelist"): {VIEWER, OPERATOR, ADMIN},
    ("pipeline", "change"): {VIEWER, OPERATOR, ADMIN},
    ("pipeline", "history"): {VIEWER, OPERATOR, ADMIN},
    ("pipeline", "add"): {OPERATOR, ADMIN},
    ("pipeline", "delete"): {OPERATOR, ADMIN},
    ("run", "changelist"): {VIEWER, OPERATOR, ADMIN},
    ("run", "change"): {VIEWER, OPERATOR, ADMIN},
    ("run", "history"): {VIEWER, OPERATOR, ADMIN},
    ("run", "add"): set(),
    ("run", "delete"): set(),
    ("alertrule", "changelist"): {VIEWER, OPERATOR, ADMIN},
    ("alertrule", "change"): {VIEWER, OPERATOR, ADMIN},
    ("alertrule", "history"): {VIEWER, OPERATOR, ADMIN},
    ("alertrule", "add"): {OPERATOR, ADMIN},
    ("alertrule", "delete"): {OPERATOR, ADMIN},
    **{(model, "changelist"): {VIEWER, OPERATOR, ADMIN} for model in OPERATIONAL},
    **{(model, "change"): {VIEWER, OPERATOR, ADMIN} for model in OPERATIONAL},
    **{(model, "add"): set() for model in OPERATIONAL},
    **{(model, "delete"): set() for model in OPERATIONAL},
}


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
@pytest.mark.parametrize(("model", "view"), ADMIN_PAGES)
def test_admin_pages(client, as_who, world, model, view, who):
    as_who(who)
    args = [] if view in ("changelist", "add") else [world[ADMIN_OBJECTS[model]].pk]
    response = client.get(reverse(f"admin:{APP_OF[model]}_{model}_{view}", args=args))
    if who == "anonymous":
        assert response.status_code == 302
    else:
        assert response.status_code == (200 if who in ADMIN_PAGES[(model, view)] else 403)


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_staff_users_and_their_tokens_are_managed_by_admins_only(client, as_who, who):
    as_who(who)
    for name in ("admin:auth_user_changelist", "admin:authtoken_tokenproxy_changelist"):
        expected = 302 if who == "anonymous" else 200 if who == "admin" else 403
        assert client.get(reverse(name)).status_code == expected


def test_every_registered_model_admin_is_in_the_matrix():
    registered = {model._meta.model_name for model in admin.site._registry}
    chm_models = {name for name in registered if name not in ("user", "group", "tokenproxy")}
    assert chm_models == set(ADMIN_OBJECTS)


# --- admin actions ------------------------------------------------------------------------


def post_action(client, model: str, action: str, obj, **extra):
    return client.post(
        reverse(f"admin:{APP_OF[model]}_{model}_changelist"),
        {"action": action, "_selected_action": [obj.pk], **extra},
    )


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_rotating_keys_is_for_admins_only(client, as_who, world, who):
    as_who(who)
    before = Client.objects.get(pk=world["client"].pk).key_hash

    post_action(client, "client", "rotate_keys", world["client"])

    rotated = Client.objects.get(pk=world["client"].pk).key_hash != before
    assert rotated == (who == "admin")


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_test_notifications_are_for_operators_and_admins(client, as_who, world, who):
    as_who(who)

    post_action(client, "alertrule", "send_test_notifications", world["rule"])

    assert len(mail.outbox) == (1 if who in ("operator", "admin") else 0)


DELETABLE = {
    "client": {ADMIN},
    "pipeline": {OPERATOR, ADMIN},
    "run": set(),
    "alertrule": {OPERATOR, ADMIN},
    "silence": set(),
    "maintenancewindow": set(),
}


# Objects with nothing that cascades from them: deleting a client or pipeline that has runs
# is refused to everyone, since runs are read-only in the admin (retention prunes them).
NEW_OBJECT = {
    "client": lambda: ClientFactory(slug="to-delete"),
    "pipeline": lambda: PipelineFactory(slug="to-delete"),
    "run": lambda: RunFactory(),
    "alertrule": lambda: AlertRuleFactory(),
    "silence": lambda: Silence.objects.create(
        rule=AlertRuleFactory(),
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(hours=1),
        created_at=timezone.now(),
    ),
    "maintenancewindow": lambda: MaintenanceWindow.objects.create(
        client=ClientFactory(slug="in-maintenance"),
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(hours=1),
        created_at=timezone.now(),
    ),
}


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
@pytest.mark.parametrize("model", DELETABLE)
def test_deleting_from_the_list(client, as_who, model, who):
    as_who(who)
    obj = NEW_OBJECT[model]()

    post_action(client, model, "delete_selected", obj, post="yes")

    deleted = not type(obj).objects.filter(pk=obj.pk).exists()
    assert deleted == (who in DELETABLE[model])


def test_every_admin_action_is_in_the_matrix():
    tested = {"rotate_keys", "send_test_notifications", "delete_selected"}
    declared = {
        name
        for model_admin in admin.site._registry.values()
        for name in (model_admin.actions or [])
    } | {"delete_selected"}
    assert declared == tested


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_editing_an_alert_rule_is_for_operators_and_admins(client, as_who, world, who):
    as_who(who)
    rule = world["rule"]

    client.post(
        reverse("admin:alerts_alertrule_change", args=[rule.pk]), rule_form(rule, name="renamed")
    )

    rule.refresh_from_db()
    assert (rule.name == "renamed") == (who in ("operator", "admin"))


# --- API ----------------------------------------------------------------------------------


def ingest_item(run_id: str) -> str:
    return json.dumps(
        {
            "pipeline": "orders-etl",
            "external_run_id": run_id,
            "status": "running",
            "started_at": "2026-03-01T02:00:00Z",
        }
    )


LINEAGE_EVENT = json.dumps(
    {
        "eventType": "START",
        "eventTime": "2026-03-01T02:00:00Z",
        "run": {"runId": "0195527e-0d38-7d2c-9a51-3f0c2b8e4a10"},
        "job": {"namespace": "airflow", "name": "orders-etl"},
    }
)
STAFF = ["no role", VIEWER, OPERATOR, ADMIN]
STAFF_READ = {"anonymous": 401, "no role": 403, "client key": 200} | dict.fromkeys(STAFF[1:], 200)
KEY_WRITE = {"anonymous": 401, "client key": 201} | dict.fromkeys(STAFF, 403)
# The lineage endpoint knows client keys only: a staff session is no credential there.
LINEAGE_WRITE = {"anonymous": 401, "client key": 201} | dict.fromkeys(STAFF, 401)
API = {
    ("GET", "api:clients"): STAFF_READ,
    ("GET", "api:pipelines"): STAFF_READ,
    ("GET", "api:runs"): STAFF_READ,
    ("GET", "api:runs-without-slash"): STAFF_READ,
    ("GET", "api:alert-rules"): STAFF_READ,
    ("GET", "api:schema"): STAFF_READ,
    ("GET", "api:docs"): STAFF_READ,
    ("POST", "api:runs"): KEY_WRITE,
    ("POST", "api:runs-without-slash"): KEY_WRITE,
    ("POST", "api:lineage"): LINEAGE_WRITE,
    ("POST", "api:lineage-with-slash"): LINEAGE_WRITE,
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "name"), API)
def test_api(client, as_who, method, name, who):
    headers = as_who(who)
    url = reverse(name)
    if method == "GET":
        response = client.get(url, **headers)
    elif "lineage" in name:
        response = client.post(url, LINEAGE_EVENT, content_type="application/json", **headers)
    else:
        body = ingest_item(f"{name}-{who}")
        response = client.post(url, body, content_type="application/json", **headers)
    assert response.status_code == API[(method, name)][who]


@pytest.mark.parametrize("who", WHO)
def test_health_is_open_to_everyone(client, as_who, who):
    assert client.get(reverse("healthz"), **as_who(who)).status_code == 200


def test_every_api_endpoint_is_in_the_matrix():
    (api,) = [p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "api"]
    assert {f"api:{p.name}" for p in api.url_patterns} == {name for _, name in API}
