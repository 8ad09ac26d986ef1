"""The staff pages' own cost on an existing database: each page as a whole request (Django's
test client, as bench/dashboards.py times them), with the time its queries took and the CPU
time of this process (template rendering, building rows; the database's work is not in it).

Median and p95 of BENCH_PAGE_REPEATS requests after two warm-ups. It reads only, logged in as
a staff user it creates if missing (``bench-staff``). Point it at a database that already
holds runs, such as one loaded by the synthetic generator's scale mode:

    DATABASE_URL=postgres://… .venv/bin/python bench/staff_pages.py [overview flaky …]
"""

from __future__ import annotations

import os
import sys
import time
import warnings

# whitenoise looks for STATIC_ROOT, which only `collectstatic` creates.
warnings.filterwarnings("ignore", message="No directory at")

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

# Pages are timed in a process set up as a gunicorn worker is: its startup objects frozen.
import chm_project.wsgi  # noqa: E402, F401
from chm_project.roles import VIEWERS  # noqa: E402

REPEATS = int(os.environ.get("BENCH_PAGE_REPEATS", "20"))
PAGES = ["overview", "errors", "flaky", "changes", "freshness", "governance"]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def main() -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    # The pages want a staff role (chm_project/roles.py): the read-only one is enough.
    user.groups.add(Group.objects.get(name=VIEWERS))
    browser = Client()
    browser.force_login(user)
    print(f"{'page':12s} {'p50':>8s} {'p95':>8s} {'SQL p50':>8s} {'CPU p50':>8s}  queries  bytes")
    for name in sys.argv[1:] or PAGES:
        url = reverse(f"runs:{name}")
        for _ in range(2):
            browser.get(url)
        wall, queries, cpu = [], [], []
        for _ in range(REPEATS):
            with CaptureQueriesContext(connection) as captured:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = browser.get(url)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        print(
            f"{name:12s} {percentile(wall, 0.5):8.1f} {percentile(wall, 0.95):8.1f}"
            f" {percentile(queries, 0.5):8.1f} {percentile(cpu, 0.5):8.1f}"
            f"  {len(captured.captured_queries):7d}  {len(response.content)}"
        )


if __name__ == "__main__":
    main()
