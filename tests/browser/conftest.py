"""What the browser checks share: Debian's headless Chromium through Playwright, a staff login
on the live server, the demo data set, and where screenshots go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHM_CHROMIUM", "/usr/bin/chromium"))
# test-artifacts/ (not committed), or the folder CHM_SCREENSHOT_DIR names (`make screenshots`
# passes docs/img for the README's images).
SCREENSHOTS = Path(os.environ.get("CHM_SCREENSHOT_DIR", "test-artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-check-password-1"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHM_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def ingest_demo_data(tmp_path: Path) -> None:
    """The committed demo data set (data/synthetic/v1.1), through the ingestion service."""
    from synthetic.cli import main as synthetic_main

    state_files = ["--state-file", str(tmp_path / "state.json")]
    state_files += ["--ingest-state-file", str(tmp_path / "ingest-state.json")]
    assert synthetic_main(["--ingest", "--quiet", *state_files]) == 0


def create_viewer(django_user_model):
    """The staff user the checks log in as, with the viewers' role (what the pages need)."""
    from django.contrib.auth.models import Group

    from chm_project.roles import VIEWERS

    user = django_user_model.objects.create_user("oncall", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=VIEWERS))
    return user


def log_in(page, live_server, path: str) -> None:
    """Open ``path`` anonymously: the admin login comes first, then the page itself."""
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", "oncall")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")
