"""The Q1–Q11 dashboard panels, defined once and rendered for Grafana and for Metabase.

Every panel reads only the `reporting` views (the read-only dashboard role can read nothing
else). Its SQL names where the two filters go with ``{filters}``:

- Grafana: the client variable as ``client_slug = ANY(ARRAY[${client:sqlstring}]::text[])``,
  which Grafana quotes and escapes for one client, several, or All alike, and the dashboard's
  time range as ``$__timeFilter(bucket_start)``;
- Metabase: an optional ``[[AND client_slug = {{client}}]]`` clause (the embed locks the
  `client` parameter to one client or, for staff's "all clients", to none) and a fixed
  look-back window, since an embedded dashboard has no time picker;
- CHM's own rendering (dashboards/views.py): the same two conditions as Grafana's, with the
  clients and the time range as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAFANA_CLIENT_FILTER = "{column} = ANY(ARRAY[${{client:sqlstring}}]::text[])"
GRAFANA_TIME_FILTER = "$__timeFilter({column})"
METABASE_CLIENT_FILTER = "[[AND {column} = {{{{client}}}}]]"
METABASE_TIME_FILTER = "{column} >= now() - interval '{window}'"
NATIVE_CLIENT_FILTER = "{column} = ANY(%(clients)s)"
NATIVE_TIME_FILTER = "{column} BETWEEN %(time_from)s AND %(time_to)s"

_METABASE_DISPLAY = {"timeseries": "line", "table": "table", "stat": "scalar", "barchart": "bar"}


@dataclass(frozen=True)
class Panel:
    key: str
    question: str
    title: str
    description: str
    sql: str
    visual: str  # timeseries | table | stat | barchart
    columns: tuple[str, ...]
    client_column: str | None = "client_slug"
    time_column: str | None = None
    # Metabase's stand-in for Grafana's time range on time-bounded panels.
    metabase_window: str = "30 days"
    width: int = 12
    height: int = 8

    @property
    def metabase_name(self) -> str:
        return f"CHM {self.question} · {self.title}"

    @property
    def metabase_display(self) -> str:
        return _METABASE_DISPLAY[self.visual]

    @property
    def grafana_format(self) -> str:
        # Time series frames need a `time` column sorted ascending; everything else is a table.
        return "time_series" if self.visual == "timeseries" else "table"


@dataclass(frozen=True)
class Dashboard:
    key: str
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]


# Grafana's and Metabase's dashboard grids are both 24 columns wide.
GRID_COLUMNS = 24


def layout(dashboard: Dashboard) -> list[tuple[Panel, int, int]]:
    """(panel, x, y): left to right, then a new row, the same on both surfaces."""
    placed, x, y, row_height = [], 0, 0, 0
    for panel in dashboard.panels:
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append((panel, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def _filtered_sql(panel: Panel, *, client_filter: str, time_filter: str) -> str:
    filters = []
    if panel.client_column:
        filters.append(client_filter.format(column=panel.client_column))
    if panel.time_column:
        filters.append(time_filter.format(column=panel.time_column))
    return panel.sql.format(filters=" AND ".join(filters) or "TRUE")


def grafana_sql(panel: Panel) -> str:
    return _filtered_sql(
        panel, client_filter=GRAFANA_CLIENT_FILTER, time_filter=GRAFANA_TIME_FILTER
    )


def native_sql(panel: Panel) -> str:
    """The panel's SQL with Grafana's two conditions as psycopg parameters: ``clients`` (a
    list of slugs; every option of the client list stands for "all", as in Grafana),
    ``time_from`` and ``time_to`` (inclusive, like ``$__timeFilter``)."""
    return _filtered_sql(panel, client_filter=NATIVE_CLIENT_FILTER, time_filter=NATIVE_TIME_FILTER)


def column_unit(column: str) -> str | None:
    """The unit of a panel column, by its name (Grafana's unit ids): rates are fractions,
    ``_pct`` columns percentages, ``_seconds`` columns (``p95_duration_seconds_7d``) durations."""
    if column.endswith("_pct"):
        return "percent"
    if "rate" in column or column.startswith("wilson_"):
        return "percentunit"
    if "_seconds" in column:
        return "s"
    return None


def metabase_sql(panel: Panel) -> str:
    base = "TRUE"
    if panel.time_column:
        base = METABASE_TIME_FILTER.format(column=panel.time_column, window=panel.metabase_window)
    if panel.client_column:
        base += " " + METABASE_CLIENT_FILTER.format(column=panel.client_column)
    return panel.sql.format(filters=base)


# The Grafana variable's options: every active client, by name, the slug as value.
CLIENT_VARIABLE_SQL = (
    "SELECT client_slug AS __value, client_name AS __text "
    "FROM reporting.q03_client_health WHERE is_active ORDER BY client_name, client_slug"
)

BUSINESS = Dashboard(
    key="business",
    uid="chm-business",
    title="CHM Q1–Q5 Business Monitoring",
    description="Failures over time, latest status by pipeline and client, weekly trend, "
    "what changed (Q1–Q5).",
    panels=(
        Panel(
            key="q01-failures-per-day",
            question="Q1",
            title="Failed runs per day by platform",
            description="Failed runs per UTC day (by start time), per platform, for the selected "
            "clients. Source: reporting.q01_failures_over_time.",
            sql='SELECT bucket_start AS "time", platform, sum(failures)::bigint AS failures '
            "FROM reporting.q01_failures_over_time WHERE {filters} "
            "GROUP BY bucket_start, platform ORDER BY 1, 2",
            visual="timeseries",
            columns=("time", "platform", "failures"),
            time_column="bucket_start",
        ),
        Panel(
            key="q01-failure-rate-per-day",
            question="Q1",
            title="Failure rate per day",
            description="failed / (success + failed) per UTC day for the selected clients; "
            "canceled and skipped runs are left out. Source: reporting.q01_failures_over_time.",
            sql='SELECT bucket_start AS "time", '
            "sum(failures)::double precision / NULLIF(sum(successes + failures), 0) "
            "AS failure_rate "
            "FROM reporting.q01_failures_over_time WHERE {filters} "
            "GROUP BY bucket_start ORDER BY 1",
            visual="timeseries",
            columns=("time", "failure_rate"),
            time_column="bucket_start",
        ),
        Panel(
            key="q03-pipelines-failing",
            question="Q3",
            title="Pipelines failing now",
            description="Active pipelines whose latest success-or-failed run failed. "
            "Source: reporting.q03_client_health.",
            sql="SELECT COALESCE(sum(failing), 0)::bigint AS failing "
            "FROM reporting.q03_client_health WHERE is_active AND {filters}",
            visual="stat",
            columns=("failing",),
            width=6,
            height=5,
        ),
        Panel(
            key="q03-client-health",
            question="Q3",
            title="Client health: pipelines now, failure rate vs the week before",
            description="Active pipelines by health and the failure rate of the last 7 days "
            "against the 7 before. Source: reporting.q03_client_health.",
            sql="SELECT client_name, client_slug, pipelines, healthy, failing, running, stale, "
            "never_run, failure_rate_7d, failure_rate_prev_7d, failure_rate_change "
            "FROM reporting.q03_client_health WHERE is_active AND {filters} "
            "ORDER BY failing DESC, failure_rate_7d DESC NULLS LAST, client_name",
            visual="table",
            columns=(
                "client_name",
                "client_slug",
                "pipelines",
                "healthy",
                "failing",
                "running",
                "stale",
                "never_run",
                "failure_rate_7d",
                "failure_rate_prev_7d",
                "failure_rate_change",
            ),
            width=18,
            height=5,
        ),
        Panel(
            key="q02-latest-status",
            question="Q2",
            title="Latest status by pipeline",
            description="Every active pipeline: its last run, last success, last failure and "
            "error; pipelines that never ran show as never_run. "
            "Source: reporting.q02_pipeline_latest_status.",
            sql="SELECT client_slug, pipeline_name, platform, owner, health, last_status, "
            "last_started_at, last_duration_seconds, last_success_at, last_failure_at, last_error "
            "FROM reporting.q02_pipeline_latest_status WHERE is_active AND {filters} "
            "ORDER BY CASE health WHEN 'failing' THEN 0 WHEN 'stale' THEN 1 "
            "WHEN 'never_run' THEN 2 WHEN 'running' THEN 3 ELSE 4 END, "
            "client_slug, pipeline_name LIMIT 500",
            visual="table",
            columns=(
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "health",
                "last_status",
                "last_started_at",
                "last_duration_seconds",
                "last_success_at",
                "last_failure_at",
                "last_error",
            ),
            width=24,
            height=10,
        ),
        Panel(
            key="q04-weekly-failure-rate",
            question="Q4",
            title="Weekly failure rate by client",
            description="failed / (success + failed) per UTC week (Monday) and client. "
            "Source: reporting.q04_weekly_trend.",
            sql='SELECT bucket_start AS "time", client_slug, failure_rate '
            "FROM reporting.q04_weekly_trend WHERE {filters} ORDER BY 1, 2",
            visual="timeseries",
            columns=("time", "client_slug", "failure_rate"),
            time_column="bucket_start",
            metabase_window="12 weeks",
        ),
        Panel(
            key="q04-weekly-trend",
            question="Q4",
            title="Weekly trend: runs, durations, time to recovery",
            description="Per UTC week and client: runs, failures, p50/p95 duration and mean "
            "time to recovery (first failure to the next success). "
            "Source: reporting.q04_weekly_trend.",
            sql="SELECT bucket_start, client_slug, runs, failures, failure_rate, "
            "p50_duration_seconds, p95_duration_seconds, recoveries, mttr_seconds "
            "FROM reporting.q04_weekly_trend WHERE {filters} "
            "ORDER BY bucket_start DESC, client_slug",
            visual="table",
            columns=(
                "bucket_start",
                "client_slug",
                "runs",
                "failures",
                "failure_rate",
                "p50_duration_seconds",
                "p95_duration_seconds",
                "recoveries",
                "mttr_seconds",
            ),
            time_column="bucket_start",
            metabase_window="12 weeks",
        ),
        Panel(
            key="q05-what-changed",
            question="Q5",
            title="What changed: last 7 days against the 7 before",
            description="Pipelines newly failing, recovered, or slower (p95 duration up by half "
            "or more). Source: reporting.q05_what_changed.",
            sql="SELECT client_slug, pipeline_name, platform, owner, change, failure_rate_7d, "
            "failure_rate_prev_7d, failure_rate_change, p95_duration_seconds_7d, "
            "p95_duration_seconds_prev_7d "
            "FROM reporting.q05_what_changed WHERE change IS NOT NULL AND {filters} "
            "ORDER BY change, failure_rate_change DESC NULLS LAST, client_slug, pipeline_name",
            visual="table",
            columns=(
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "change",
                "failure_rate_7d",
                "failure_rate_prev_7d",
                "failure_rate_change",
                "p95_duration_seconds_7d",
                "p95_duration_seconds_prev_7d",
            ),
            width=24,
        ),
    ),
)

OPERATIONS = Dashboard(
    key="operations",
    uid="chm-operations",
    title="CHM Q6–Q10 Operations & Governance",
    description="Triage, flaky ranking, platform failure rates, freshness and stuck runs, "
    "governance (Q6–Q10).",
    panels=(
        Panel(
            key="q06-failing-count",
            question="Q6",
            title="Failing pipelines",
            description="Active pipelines whose latest success-or-failed run failed. "
            "Source: reporting.q06_triage.",
            sql="SELECT count(*) AS failing_pipelines FROM reporting.q06_triage WHERE {filters}",
            visual="stat",
            columns=("failing_pipelines",),
            width=6,
            height=6,
        ),
        Panel(
            key="q06-triage",
            question="Q6",
            title="Triage: failing now, since when, who owns it",
            description="Consecutive failures since the last success, failing since, last "
            "error, owner, alert coverage, rules firing and how many of them are acknowledged. "
            "Source: reporting.q06_triage.",
            sql="SELECT client_slug, pipeline_name, platform, owner, consecutive_failures, "
            "failing_since, last_success_at, last_error, is_covered, firing_rules, "
            "acknowledged_rules "
            "FROM reporting.q06_triage WHERE {filters} "
            "ORDER BY consecutive_failures DESC, failing_since, client_slug, pipeline_name",
            visual="table",
            columns=(
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "consecutive_failures",
                "failing_since",
                "last_success_at",
                "last_error",
                "is_covered",
                "firing_rules",
                "acknowledged_rules",
            ),
            width=18,
            height=6,
        ),
        Panel(
            key="q11-incidents",
            question="Q11",
            title="Incidents: one cause, several pipelines (last 7 days)",
            description="Failures that share a failure signature across 2 or more pipelines, "
            "or hit 5 or more pipelines of one platform, each within 2 hours of the one before; "
            "open until every pipeline involved has succeeded since. incident_key is stable. "
            "Source: reporting.q11_incidents and reporting.q11_incident_pipelines.",
            sql="SELECT state, kind, example_error, platforms, pipelines, clients, failures, "
            "open_pipelines, first_seen, last_seen, incident_key "
            "FROM reporting.q11_incidents WHERE incident_key IN "
            "(SELECT incident_key FROM reporting.q11_incident_pipelines WHERE {filters}) "
            "ORDER BY state, last_seen DESC, incident_key",
            visual="table",
            columns=(
                "state",
                "kind",
                "example_error",
                "platforms",
                "pipelines",
                "clients",
                "failures",
                "open_pipelines",
                "first_seen",
                "last_seen",
                "incident_key",
            ),
            width=24,
            height=6,
        ),
        Panel(
            key="q07-flaky-ranking",
            question="Q7",
            title="Flaky ranking (last 20 runs within 30 days)",
            description="Flips between adjacent outcomes over the last 20 success/failed runs; "
            "flaky when n >= 10, flips >= 3 and flip rate >= 0.25. Fewer than 10 runs shows "
            "as insufficient history. Source: reporting.q07_flaky_ranking.",
            sql="SELECT client_slug, pipeline_name, platform, owner, verdict, window_runs, "
            "failures, flips, flip_rate, last_flip_at "
            "FROM reporting.q07_flaky_ranking WHERE window_runs > 0 AND {filters} "
            "ORDER BY flip_rate DESC NULLS LAST, failures DESC, client_slug, pipeline_name "
            "LIMIT 50",
            visual="table",
            columns=(
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "verdict",
                "window_runs",
                "failures",
                "flips",
                "flip_rate",
                "last_flip_at",
            ),
            width=24,
        ),
        Panel(
            key="q08-platform-rates",
            question="Q8",
            title="Platform failure rates, last 7 days (all clients)",
            description="Ranked by the Wilson 95 % lower bound of the failure rate; low_sample "
            "under 20 runs. Source: reporting.q08_platform_failure_rates.",
            sql="SELECT platform, pipelines, outcome_runs, failures, failure_rate, "
            "wilson_lower, wilson_upper, low_sample "
            "FROM reporting.q08_platform_failure_rates WHERE window_label = '7d' AND {filters} "
            "ORDER BY wilson_lower DESC NULLS LAST, platform",
            visual="table",
            columns=(
                "platform",
                "pipelines",
                "outcome_runs",
                "failures",
                "failure_rate",
                "wilson_lower",
                "wilson_upper",
                "low_sample",
            ),
            client_column=None,
        ),
        Panel(
            key="q08-platform-daily",
            question="Q8",
            title="Platform failure rate per day (all clients)",
            description="failed / (success + failed) per UTC day and platform. "
            "Source: reporting.q08_platform_failure_daily.",
            sql='SELECT bucket_start AS "time", platform, failure_rate '
            "FROM reporting.q08_platform_failure_daily WHERE {filters} ORDER BY 1, 2",
            visual="timeseries",
            columns=("time", "platform", "failure_rate"),
            client_column=None,
            time_column="bucket_start",
        ),
        Panel(
            key="q09-freshness-stuck",
            question="Q9",
            title="Stale pipelines and stuck runs",
            description="stale: no success within the pipeline's freshness expectation; stuck: "
            "running for more than twice its usual (p95) duration. "
            "Source: reporting.q09_freshness_and_stuck.",
            sql="SELECT kind, client_slug, pipeline_name, platform, owner, external_run_id, "
            "expected_minutes, last_success_at, late_since, late_by_minutes "
            "FROM reporting.q09_freshness_and_stuck WHERE {filters} "
            "ORDER BY late_by_minutes DESC, client_slug, pipeline_name",
            visual="table",
            columns=(
                "kind",
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "external_run_id",
                "expected_minutes",
                "last_success_at",
                "late_since",
                "late_by_minutes",
            ),
            width=24,
        ),
        Panel(
            key="q10-governance-by-client",
            question="Q10",
            title="Governance by client: owners, documentation, alert coverage",
            description="Share of active pipelines with an owner, documentation and an enabled "
            "covering alert rule; enabled and firing rules. "
            "Source: reporting.q10_governance_by_client.",
            sql="SELECT client_slug, pipelines, with_owner, with_documentation, covered, "
            "uncovered, owner_pct, documentation_pct, coverage_pct, enabled_rules, firing_rules "
            "FROM reporting.q10_governance_by_client WHERE {filters} "
            "ORDER BY coverage_pct NULLS FIRST, client_slug",
            visual="table",
            columns=(
                "client_slug",
                "pipelines",
                "with_owner",
                "with_documentation",
                "covered",
                "uncovered",
                "owner_pct",
                "documentation_pct",
                "coverage_pct",
                "enabled_rules",
                "firing_rules",
            ),
        ),
        Panel(
            key="q10-governance-gaps",
            question="Q10",
            title="Pipelines missing an owner, documentation or an alert rule",
            description="Active pipelines with a governance gap. Source: reporting.q10_governance.",
            sql="SELECT client_slug, pipeline_name, platform, owner, has_owner, "
            "has_documentation, covering_rules "
            "FROM reporting.q10_governance "
            "WHERE NOT (has_owner AND has_documentation AND is_covered) AND {filters} "
            "ORDER BY client_slug, pipeline_name",
            visual="table",
            columns=(
                "client_slug",
                "pipeline_name",
                "platform",
                "owner",
                "has_owner",
                "has_documentation",
                "covering_rules",
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (BUSINESS, OPERATIONS)
DASHBOARDS_BY_KEY: dict[str, Dashboard] = {dashboard.key: dashboard for dashboard in DASHBOARDS}
