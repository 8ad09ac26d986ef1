"""A real browser (Debian's headless Chromium through Playwright) logs in to a live CHM
server with seeded data, loads the overview, a pipeline page and the flaky ranking, finds the
expected text and saves screenshots: under test-artifacts/ (not committed), or under the
folder named by CHM_SCREENSHOT_DIR. The data: a small factory-built history, or with
CHM_BROWSER_DEMO_DATA=1 the committed demo data set (data/synthetic/v1.1, ingested through the
ingestion service), which `make screenshots` uses for the README's docs/img/. On its own small
data, an operator acknowledges an incident alert on the firing-alerts page."""

from __future__ import annotations

import datetime as dt
import os
import random

import pytest
from django.utils import timezone

from runs.models import RunStatus
from tests.browser.conftest import (
    PASSWORD,
    SCREENSHOTS,
    create_viewer,
    ingest_demo_data,
    log_in,
)
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_DATA = os.environ.get("CHM_BROWSER_DEMO_DATA") == "1"
# What each data set must show: the failing pipeline (with its error), a rule covering it,
# a flaky pipeline, and an error signature (as the errors page reads it: normalised). The demo set's answers are its planted scenarios
# (data/synthetic/v1.1/context/scenarios.json).
EXPECTED = {
    "factories": {
        "failing": "Orders (Acme)",
        "error": "No space left on device",
        "rule": "Acme Corp: 3 failures in a row",
        "flaky": "Billing (Acme)",
        "signature": "task exited with return code 1",
    },
    "demo": {
        "failing": "Marketing attribution",
        "error": "dbt test failure: not_null_orders_order_id",
        "rule": "Any pipeline failing three times in a row",
        "flaky": "Salesforce sync",
        "signature": "permission denied for schema analytics",
    },
}


def seed_demo() -> dict:
    """A small but lifelike history: 4 clients, 18 pipelines, 30 days of runs."""
    rng = random.Random(20261125)  # noqa: S311 - shapes demo data, not security
    now = timezone.now().replace(second=0, microsecond=0)
    platforms = ["airflow", "dbt", "dagster", "fivetran", "spark", "airbyte"]
    created = {}
    for c, (slug, name) in enumerate(
        [
            ("acme", "Acme Corp"),
            ("globex", "Globex"),
            ("initech", "Initech"),
            ("umbrella", "Umbrella Health"),
        ]
    ):
        client = ClientFactory(slug=slug, name=name)
        AlertRuleFactory(client=client, name=f"{name}: 3 failures in a row")
        for p in range(4 + c % 2):
            pipeline = PipelineFactory(
                client=client,
                slug=f"{slug}-{['orders', 'billing', 'ledger', 'crm-sync', 'events'][p]}",
                name=f"{['Orders', 'Billing', 'Ledger', 'CRM sync', 'Events'][p]} ({name.split()[0]})",
                platform=platforms[(c + p) % len(platforms)],
                owner=rng.choice(["data-platform", "analytics-eng", "finance-data", ""]),
                docs_url=rng.choice(["", "https://wiki.example.com/pipelines"]),
                freshness_minutes=rng.choice([None, 360, 720]),
            )
            created[pipeline.slug] = pipeline
            base_failure = rng.choice([0.02, 0.05, 0.1])
            for i in range(60):
                started = (
                    now
                    - dt.timedelta(hours=12 * (60 - i))
                    + dt.timedelta(minutes=rng.randint(0, 50))
                )
                if pipeline.slug == "acme-billing":
                    status = RunStatus.SUCCESS if i % 2 == 0 else RunStatus.FAILED  # flaky
                elif pipeline.slug == "acme-orders" and i >= 56:
                    status = RunStatus.FAILED  # failing since two days
                else:
                    roll = rng.random()
                    status = (
                        RunStatus.FAILED if roll < base_failure
                        else RunStatus.CANCELED if roll < base_failure + 0.03
                        else RunStatus.SUCCESS
                    )  # fmt: skip
                minutes = rng.randint(4, 9) * (
                    2 if pipeline.slug == "globex-ledger" and i > 50 else 1
                )
                RunFactory(
                    pipeline=pipeline,
                    status=status,
                    started_at=started,
                    finished_at=started + dt.timedelta(minutes=minutes),
                    error_message=(
                        "psycopg.errors.DiskFull: could not extend file: No space left on device"
                        if pipeline.slug == "acme-orders" and status == RunStatus.FAILED
                        else "Task exited with return code 1"
                        if status == RunStatus.FAILED
                        else ""
                    ),
                )
    stale = created["umbrella-ledger"]
    stale.freshness_minutes = 60
    stale.save(update_fields=["freshness_minutes"])
    PipelineFactory(client=stale.client, slug="umbrella-new", name="Claims (new)", owner="")
    return created


@pytest.fixture
def seeded(django_user_model, tmp_path):
    from alerts.evaluation import evaluate_alerts

    create_viewer(django_user_model)
    if not DEMO_DATA:
        seed_demo()
        expected = EXPECTED["factories"]
    else:
        ingest_demo_data(tmp_path)
        expected = EXPECTED["demo"]
    # A running CHM evaluates its rules right after ingestion: the pages show what fires.
    evaluate_alerts()
    return expected


def test_overview_pipeline_and_flaky_pages_in_a_real_browser(live_server, seeded, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # The Content-Security-Policy must not block anything CHM itself serves.
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    log_in(page, live_server, "/")

    assert page.locator("h1").inner_text() == "What is failing now"
    failing = page.locator("#failing-now").inner_text()
    assert seeded["failing"] in failing and seeded["error"] in failing
    assert seeded["rule"] in page.locator("#firing-alerts").inner_text()
    chart_title = page.locator("#failures-per-day svg title").first.text_content()
    assert chart_title.startswith("Failed and successful runs per day")
    page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)

    page.locator("#failing-now").get_by_role("link", name=seeded["failing"]).first.click()
    page.wait_for_selector("#history")
    assert "failing" in page.locator("h1").inner_text()
    assert seeded["error"] in page.locator("#last-error").inner_text()
    assert seeded["rule"] in page.locator("#alert-rules").inner_text()
    assert page.locator("#charts svg").count() == 2
    page.screenshot(path=SCREENSHOTS / "pipeline.png", full_page=True)

    page.click("nav >> text=Flaky")
    assert seeded["flaky"] in page.locator("#flaky").inner_text()
    page.screenshot(path=SCREENSHOTS / "flaky.png", full_page=True)

    # Every failed run's message, grouped by signature.
    page.click("nav >> text=Errors")
    assert seeded["signature"] in page.locator("#signatures").inner_text()

    # The admin and Swagger UI run their scripts under the same policy.
    page.goto(f"{live_server.url}/admin/alerts/alertrule/")
    page.wait_for_selector("#result_list")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    assert refused == [], "\n".join(refused)


@pytest.fixture
def incident_alert(django_user_model) -> str:
    """An operator (who may acknowledge) and a rule firing for an incident of 4 pipelines;
    answers the incident's key. Seeded before the browser starts: Playwright's event loop
    leaves the test's own thread no ORM."""
    from django.contrib.auth.models import Group

    from alerts.evaluation import evaluate_alerts
    from alerts.models import AlertState, RuleKind
    from chm_project.roles import OPERATORS

    operator = django_user_model.objects.create_user("oncall", password=PASSWORD, is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATORS))
    now = timezone.now().replace(microsecond=0)
    clients = [ClientFactory(slug=slug) for slug in ("acme", "globex")]
    for index in range(4):
        RunFactory(
            pipeline=PipelineFactory(client=clients[index % 2], slug=f"load-{index}"),
            status=RunStatus.FAILED,
            started_at=now - dt.timedelta(minutes=60 - index),
            error_message=f"permission denied for schema analytics (host db-{index})",
        )
    AlertRuleFactory(client=clients[0], name="Shared outage", kind=RuleKind.INCIDENT, threshold=3)
    evaluate_alerts(now=now, deliver=False)
    return AlertState.objects.get(rule__name="Shared outage").incident_key


def test_an_operator_acknowledges_an_incident_alert_in_a_real_browser(
    live_server, incident_alert, browser
):
    """The firing-alerts page: an incident alert links its incident; an operator acknowledges
    it through its form, and the page then says who did (after a reload too)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, live_server, "/alerts/")
    row = page.locator("#firing-alerts tbody tr", has_text="Shared outage")
    assert "not acknowledged" in row.inner_text()
    link = row.get_by_role("link", name="permission denied for schema analytics")
    assert link.get_attribute("href") == f"/incidents/{incident_alert}/"

    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{live_server.url}/alerts/")
    page.reload()
    row = page.locator("#firing-alerts tbody tr", has_text="Shared outage")
    assert "acknowledged by oncall" in row.inner_text()
    assert "not acknowledged" not in row.inner_text()
    assert row.get_by_role("button", name="Acknowledge").count() == 0
    link.click()
    page.wait_for_url(f"{live_server.url}/incidents/{incident_alert}/")
    assert incident_alert in page.locator(".facts").inner_text()
    assert page.locator("#pipelines tbody tr").count() == 4
