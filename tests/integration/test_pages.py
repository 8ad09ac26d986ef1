"""The staff pages: staff only, the numbers of the reporting views, bounded queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from runs.models import RolledUpDay, RunStatus
from runs.reporting import DailyFailures
from runs.rollups import refresh_daily_rollup
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory
from web import selectors

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def demo():
    """One client with a failing, a flaky, a stale and a never-run pipeline."""
    now = timezone.now()
    acme = ClientFactory(slug="acme", name="Acme Corp")
    orders = PipelineFactory(client=acme, slug="orders", name="Orders ETL", owner="team-orders")
    RunFactory(pipeline=orders, status=RunStatus.SUCCESS, started_at=now - 10 * HOUR)
    for i, hours_ago in enumerate((8, 6, 4)):
        RunFactory(
            pipeline=orders,
            status=RunStatus.FAILED,
            started_at=now - hours_ago * HOUR,
            external_run_id=f"orders-fail-{i}",
            error_message="disk full on /data",
        )
    flaky = PipelineFactory(client=acme, slug="billing", name="Billing sync")
    for i in range(12):
        RunFactory(
            pipeline=flaky,
            status=RunStatus.SUCCESS if i % 2 == 0 else RunStatus.FAILED,
            started_at=now - dt.timedelta(days=2) + i * HOUR,
        )
    stale = PipelineFactory(client=acme, slug="ledger", name="Ledger load", freshness_minutes=60)
    RunFactory(
        pipeline=stale,
        status=RunStatus.SUCCESS,
        started_at=now - 3 * HOUR - dt.timedelta(minutes=5),
    )
    never = PipelineFactory(client=acme, slug="fresh-start", name="Fresh start")
    rule = AlertRuleFactory(client=acme, pipeline=None, name="three strikes")
    return {
        "acme": acme,
        "orders": orders,
        "flaky": flaky,
        "stale": stale,
        "never": never,
        "rule": rule,
    }


def more_history(clients: int = 3, pipelines: int = 4, runs: int = 25) -> None:
    """Rows that must not add queries to any page."""
    now = timezone.now()
    for c in range(clients):
        client = ClientFactory()
        for _ in range(pipelines):
            pipeline = PipelineFactory(client=client, freshness_minutes=30)
            for i in range(runs):
                RunFactory(
                    pipeline=pipeline,
                    status=[RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED][i % 3],
                    started_at=now - (i + c) * HOUR,
                )
            RunFactory(pipeline=pipeline, status=RunStatus.RUNNING, started_at=now)
        AlertRuleFactory(client=client)


def page_urls(demo) -> list[str]:
    return [
        reverse("runs:overview"),
        reverse("runs:client-detail", args=["acme"]),
        reverse("runs:pipeline-detail", args=[demo["orders"].pk]),
        reverse("runs:run-list"),
        reverse("runs:run-list") + "?status=failed&client=acme",
        reverse("runs:flaky"),
        reverse("runs:changes"),
        reverse("runs:freshness"),
        reverse("runs:governance"),
        reverse("runs:errors"),
        reverse("runs:errors") + "?rank=30d",
    ]


def test_pages_redirect_anonymous_users_to_the_admin_login(client, demo):
    for url in page_urls(demo):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_pages_refuse_logged_in_users_who_are_not_staff(client, demo, django_user_model):
    client.force_login(django_user_model.objects.create_user("viewer", password="x-Y-z-123456"))
    for url in page_urls(demo):
        assert client.get(url).status_code == 302, url


def test_every_page_runs_a_bounded_number_of_queries_whatever_the_rows(
    staff_client, demo, django_assert_max_num_queries
):
    # Session, user, the user's role (two permission reads), then the page's own reads: each
    # page reads a fixed set of queries (the overview and a failing pipeline's page the most:
    # its incidents among them).
    for url in page_urls(demo):
        with django_assert_max_num_queries(13):
            assert staff_client.get(url).status_code == 200, url
    more_history()
    for url in page_urls(demo):
        with django_assert_max_num_queries(13):
            assert staff_client.get(url).status_code == 200, url


def test_overview_shows_what_fails_client_health_platforms_and_the_daily_chart(staff_client, demo):
    page = staff_client.get(reverse("runs:overview")).content.decode()
    failing = page[page.index('id="failing-now"') : page.index('id="client-health"')]
    assert "Orders ETL" in failing and "team-orders" in failing
    assert '<td class="num">3</td>' in failing  # three failures in a row
    assert "disk full on /data" in failing
    assert "Billing sync" in failing  # its latest outcome failed too
    assert "Acme Corp" in page[page.index('id="client-health"') :]
    assert "<svg" in page and "Failed and successful runs per day" in page
    assert "airflow" in page[page.index('id="platforms"') :]


def q1_summed_per_day(days: int) -> list[tuple[dt.date, int, int]]:
    """What the overview's chart showed when it summed Q1 itself, days without runs as 0."""
    today = timezone.now().astimezone(dt.UTC).date()
    totals = {
        row["bucket_start"].astimezone(dt.UTC).date(): (row["successes"], row["failures"])
        for row in DailyFailures.objects.values("bucket_start").annotate(
            successes=Sum("successes"), failures=Sum("failures")
        )
    }
    return [
        (day, *totals.get(day, (0, 0)))
        for day in (today - dt.timedelta(days=days - 1 - offset) for offset in range(days))
    ]


def test_the_overview_chart_shows_q1_summed_over_clients_and_platforms(demo):
    more_history(runs=80)  # runs over the last four days, on several clients
    chart = [(d.bucket_start, d.successes, d.failures) for d in selectors.failures_per_day()]
    assert chart == q1_summed_per_day(30)
    assert sum(successes + failures for _, successes, failures in chart) > 0
    refresh_daily_rollup()
    assert RolledUpDay.objects.exists()
    assert [
        (d.bucket_start, d.successes, d.failures) for d in selectors.failures_per_day()
    ] == q1_summed_per_day(30)


def test_overview_without_clients_says_how_to_create_one(staff_client):
    page = staff_client.get(reverse("runs:overview")).content.decode()
    assert "No clients yet" in page and "manage.py create_client" in page


def test_overview_without_runs_says_how_to_send_one(staff_client):
    PipelineFactory()
    page = staff_client.get(reverse("runs:overview")).content.decode()
    assert "No runs yet" in page and "/api/v1/runs/" in page


def test_client_page_lists_pipelines_with_health_and_a_strip_of_recent_runs(staff_client, demo):
    page = staff_client.get(reverse("runs:client-detail", args=["acme"])).content.decode()
    for name in ("Orders ETL", "Billing sync", "Ledger load", "Fresh start"):
        assert name in page
    assert "never run" in page
    # 4 + 12 + 1 runs, one coloured cell each.
    assert page.count('class="cell status-') == 17
    assert "Weekly trend" in page and page.count("<tr><td>") >= 13


def test_client_page_strip_names_each_run_oldest_first_and_escapes_its_id(staff_client):
    pipeline = PipelineFactory(client=ClientFactory(slug="acme"))
    started = dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC)
    RunFactory(pipeline=pipeline, status=RunStatus.FAILED, started_at=started + HOUR)
    RunFactory(pipeline=pipeline, started_at=started, external_run_id='<b>"x"&</b>')
    page = staff_client.get(reverse("runs:client-detail", args=["acme"])).content.decode()
    assert 'aria-label="Last 2 runs, oldest first: success, failed"' in page
    assert (
        '<span class="cell status-success" title="&lt;b&gt;&quot;x&quot;&amp;&lt;/b&gt;: success,'
        ' started 2026-03-01 07:30 UTC"></span><span class="cell status-failed"'
    ) in page
    assert "<b>" not in page


def test_client_page_strip_says_when_a_pipeline_has_no_runs(staff_client):
    PipelineFactory(client=ClientFactory(slug="acme"))
    page = staff_client.get(reverse("runs:client-detail", args=["acme"])).content.decode()
    assert 'oldest first: none"><span class="muted">no runs</span></span>' in page


def test_client_page_answers_404_for_an_unknown_client(staff_client):
    assert staff_client.get(reverse("runs:client-detail", args=["nobody"])).status_code == 404


def test_pipeline_page_shows_last_error_charts_rules_and_history(staff_client, demo):
    page = staff_client.get(reverse("runs:pipeline-detail", args=[demo["orders"].pk]))
    html = page.content.decode()
    assert "disk full on /data" in html
    assert "three strikes" in html and "every pipeline of the client" in html
    assert "3 failures in a row" in html
    assert html.count("<svg") == 2
    assert "orders-fail-2" in html


def test_pipeline_history_pages_with_a_keyset_cursor(staff_client):
    pipeline = PipelineFactory()
    now = timezone.now()
    for i in range(30):
        RunFactory(pipeline=pipeline, external_run_id=f"r{i:02d}", started_at=now - i * HOUR)
    url = reverse("runs:pipeline-detail", args=[pipeline.pk])
    first = staff_client.get(url)
    ids = [run.external_run_id for run in first.context["page"].runs]
    assert ids == [f"r{i:02d}" for i in range(25)]
    cursor = first.context["page"].next_cursor.encode()
    second = staff_client.get(url, {"after": cursor})
    assert [run.external_run_id for run in second.context["page"].runs] == [
        f"r{i:02d}" for i in range(25, 30)
    ]
    assert second.context["page"].next_cursor is None
    assert f"after={cursor}" in first.content.decode()


def test_a_bad_page_position_is_a_400_naming_the_parameter(staff_client, demo):
    url = reverse("runs:pipeline-detail", args=[demo["orders"].pk])
    response = staff_client.get(url, {"after": "yesterday"})
    assert response.status_code == 400 and "after:" in response.content.decode()


def test_run_explorer_filters_by_client_status_platform_and_time(staff_client, demo):
    other = RunFactory(status=RunStatus.FAILED, external_run_id="other-client-failure")
    url = reverse("runs:run-list")
    html = staff_client.get(url, {"client": "acme", "status": "failed"}).content.decode()
    assert "orders-fail-0" in html and "other-client-failure" not in html
    assert html.count('badge status-failed">failed') == 3 + 6
    html = staff_client.get(
        url, {"status": ["success", "canceled"], "client": "acme"}
    ).content.decode()
    assert "orders-fail-0" not in html
    html = staff_client.get(url, {"pipeline": other.pipeline_id}).content.decode()
    assert "other-client-failure" in html and "orders-fail-0" not in html
    since = (timezone.now() - 5 * HOUR).isoformat()
    html = staff_client.get(url, {"client": "acme", "started_after": since}).content.decode()
    assert "orders-fail-2" in html and "orders-fail-1" not in html
    html = staff_client.get(url, {"platform": "spark"}).content.decode()
    assert "No run matches these filters" in html


def test_run_explorer_answers_400_naming_each_bad_filter(staff_client, demo):
    response = staff_client.get(
        reverse("runs:run-list"),
        {"started_after": "last tuesday", "status": "exploded", "client": "nobody"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    for field in ("started_after:", "status:", "client:"):
        assert field in html


def test_run_explorer_pages_through_runs_without_overlap(staff_client):
    pipeline = PipelineFactory()
    now = timezone.now()
    # Equal start times: the id breaks the tie, so no run is skipped or shown twice.
    for i in range(60):
        RunFactory(pipeline=pipeline, external_run_id=f"x{i:02d}", started_at=now - (i // 3) * HOUR)
    seen: list[str] = []
    url, params = reverse("runs:run-list"), {"pipeline": pipeline.pk}
    for _ in range(5):
        response = staff_client.get(url, params)
        seen += [run.external_run_id for run in response.context["page"].runs]
        cursor = response.context["page"].next_cursor
        if cursor is None:
            break
        params = {"pipeline": pipeline.pk, "after": cursor.encode()}
    assert sorted(seen) == sorted(f"x{i:02d}" for i in range(60))


def test_flaky_page_ranks_flaky_pipelines_and_lists_short_histories(staff_client, demo):
    html = staff_client.get(reverse("runs:flaky")).content.decode()
    flaky = html[html.index('id="flaky"') : html.index('id="insufficient-history"')]
    assert "Billing sync" in flaky and '<td class="num">11</td>' in flaky
    short = html[html.index('id="insufficient-history"') :]
    assert "Orders ETL" in short and "Fresh start" in short


def test_changes_page_shows_newly_failing_pipelines(staff_client, demo):
    html = staff_client.get(reverse("runs:changes")).content.decode()
    newly = html[html.index('id="newly-failing"') : html.index('id="recovered"')]
    assert "Orders ETL" in newly and "Billing sync" in newly


def test_freshness_page_shows_how_late_a_stale_pipeline_is(staff_client, demo):
    html = staff_client.get(reverse("runs:freshness")).content.decode()
    stale = html[html.index('id="stale"') : html.index('id="stuck"')]
    assert "Ledger load" in stale and "2.0 h" in stale  # 1 h expected, last success 3 h ago


def test_governance_page_shows_coverage_per_client_and_gaps(staff_client, demo):
    PipelineFactory(client=demo["acme"], owner="", slug="orphan", name="Orphan job")
    html = staff_client.get(reverse("runs:governance")).content.decode()
    assert "Acme Corp" in html and "100.0 %" in html
    gaps = html[html.index('id="gaps"') :]
    assert "Orphan job" in gaps and "missing" in gaps


def test_governance_page_lists_the_least_covered_clients_first_and_links_to_all(
    staff_client, demo, monkeypatch
):
    monkeypatch.setattr("web.views.LIST_ROWS", 1)
    PipelineFactory(client=ClientFactory(name="Uncovered Ltd"), owner="", slug="bare")
    html = staff_client.get(reverse("runs:governance")).content.decode()
    by_client = html[html.index('id="by-client"') : html.index('id="gaps"')]
    assert "Uncovered Ltd" in by_client and "Acme Corp" not in by_client
    assert "Show all 2 clients" in by_client
    gaps = html[html.index('id="gaps"') :]
    assert "The first 1 of " in gaps
    html = staff_client.get(reverse("runs:governance") + "?clients=all").content.decode()
    by_client = html[html.index('id="by-client"') : html.index('id="gaps"')]
    assert "Uncovered Ltd" in by_client and "Acme Corp" in by_client
    assert "Show all" not in by_client


def test_sections_count_every_row_but_send_only_the_first_of_each_in_order():
    now = timezone.now()
    # Four pipelines an hour late or more, 60-minute expectation, last success 2–5 h ago.
    for hours_ago in (2, 5, 3, 4):
        pipeline = PipelineFactory(freshness_minutes=60)
        RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=now - hours_ago * HOUR)
    problems = selectors.sections_of(selectors.freshness_problems(), section="kind", limit=2)
    assert problems.count("stale") == 4 and problems.count("stuck") == 0 and problems.total == 4
    late = [row["late_by_minutes"] for row in problems.first_rows("stale")]
    assert len(late) == 2 and late == sorted(late, reverse=True) and late[0] > 4 * 60 - 5 - 60
    assert problems.first_rows("stuck") == []


def test_sections_fetched_by_key_are_the_sections_ranked_whole():
    now = timezone.now()
    # Alternating, streaky and short histories: flaky, stable and insufficient sections.
    for pipeline_number in range(9):
        pipeline = PipelineFactory()
        for i in range(4 + 2 * pipeline_number):
            failed = i % (pipeline_number % 3 + 1) == 0
            RunFactory(
                pipeline=pipeline,
                status=RunStatus.FAILED if failed else RunStatus.SUCCESS,
                started_at=now - (i + 1) * HOUR,
            )
    PipelineFactory()

    whole = selectors.sections_of(selectors.flaky_ranking(), section="verdict", limit=2)
    by_key = selectors.sections_of(
        selectors.flaky_ranking(), section="verdict", limit=2, fetch_shown_by_pk=True
    )

    assert set(whole.counts) == {"flaky", "stable", "insufficient history"}
    assert by_key.counts == whole.counts
    assert by_key.rows == whole.rows


def test_first_rows_and_count_counts_beyond_the_rows_it_sends():
    now = timezone.now()
    for streak in (1, 3, 2):
        pipeline = PipelineFactory()
        for i in range(streak):
            RunFactory(pipeline=pipeline, status=RunStatus.FAILED, started_at=now - (i + 1) * HOUR)
    rows, total = selectors.first_rows_and_count(selectors.failing_now(), limit=2)
    assert total == 3
    assert [row["consecutive_failures"] for row in rows] == [3, 2]
    assert selectors.first_rows_and_count(selectors.failing_now().none(), limit=2) == ([], 0)
