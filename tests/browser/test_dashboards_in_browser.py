"""Both catalog dashboards, drawn by CHM on the demo data set, in a real browser: every panel
of "CHM Q1–Q5 Business Monitoring" and "CHM Q6–Q10 Operations & Governance" shows data
(bars, a figure or table rows) and no error. Screenshots: dashboard-business.png and
dashboard-operations.png (docs/img/ with `make screenshots`)."""

from __future__ import annotations

import pytest

from dashboards.catalog import DASHBOARDS
from tests.browser.conftest import SCREENSHOTS, create_viewer, ingest_demo_data, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_data(django_user_model, tmp_path):
    from alerts.evaluation import evaluate_alerts

    create_viewer(django_user_model)
    ingest_demo_data(tmp_path)
    evaluate_alerts()


def test_both_dashboards_draw_every_panel_with_data_and_no_error(
    live_server, demo_data, browser, settings
):
    # CHM's own rendering: no Metabase configured.
    settings.METABASE_SITE_URL = ""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    for number, dashboard in enumerate(DASHBOARDS):
        path = f"/dashboards/{dashboard.key}/"
        if number == 0:
            log_in(page, live_server, path)
        else:
            page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").inner_text() == dashboard.title
        assert page.locator("iframe").count() == 0
        shown = page.locator("section.panel")
        assert shown.count() == len(dashboard.panels)
        for panel in dashboard.panels:
            section = page.locator(f"section.panel#{panel.key}")
            assert section.locator(".panel-error").count() == 0, panel.key
            assert int(section.get_attribute("data-rows")) > 0, panel.key
            if panel.visual == "timeseries":
                assert section.locator("svg rect").count() > 0, panel.key
            elif panel.visual == "stat":
                assert section.locator(".stat").inner_text().strip(), panel.key
            else:
                assert section.locator("tbody tr").count() > 0, panel.key
            assert (
                section.locator("a.csv")
                .get_attribute("href")
                .startswith(f"/dashboards/{dashboard.key}/{panel.key}.csv")
            )
        page.screenshot(path=SCREENSHOTS / f"dashboard-{dashboard.key}.png", full_page=True)
