-- Q8 platform failure rates, v2: the same rows as v1. A window's whole closed UTC days that
-- have their rollup marker are read from the rollup's per-platform totals
-- (runs_dailyplatformcount, ~11 rows a day); only the rest (the partial day where the window
-- starts, the current day, days not rolled up) are counted from the runs. The windows stay
-- rolling (statement_timestamp() minus 24 hours, 7 or 30 days), not aligned to days, so the
-- 24-hour window is always counted from the runs. v1 counted every run of the window:
-- ~70,000 for 7 days and ~300,000 for 30 at 10,000 runs a day.
CREATE OR REPLACE VIEW reporting.q08_platform_failure_rates AS
SELECT
    concat_ws('/', win.platform, win.window_label) AS row_key,
    win.platform,
    win.window_label,
    statement_timestamp() - win.span AS window_start,
    statement_timestamp() AS window_end,
    win.pipelines,
    win.finished_runs,
    win.outcome_runs,
    win.failures,
    win.failures::double precision / NULLIF(win.outcome_runs, 0) AS failure_rate,
    CASE WHEN win.outcome_runs > 0 THEN
        (
            win.failures::double precision / win.outcome_runs + 1.96 ^ 2 / (2 * win.outcome_runs)
            - 1.96 * sqrt(
                (win.failures::double precision / win.outcome_runs)
                * (1 - win.failures::double precision / win.outcome_runs) / win.outcome_runs
                + 1.96 ^ 2 / (4.0 * win.outcome_runs ^ 2)
            )
        ) / (1 + 1.96 ^ 2 / win.outcome_runs)
    END AS wilson_lower,
    CASE WHEN win.outcome_runs > 0 THEN
        (
            win.failures::double precision / win.outcome_runs + 1.96 ^ 2 / (2 * win.outcome_runs)
            + 1.96 * sqrt(
                (win.failures::double precision / win.outcome_runs)
                * (1 - win.failures::double precision / win.outcome_runs) / win.outcome_runs
                + 1.96 ^ 2 / (4.0 * win.outcome_runs ^ 2)
            )
        ) / (1 + 1.96 ^ 2 / win.outcome_runs)
    END AS wilson_upper,
    (win.outcome_runs < 20) AS low_sample
FROM (
    VALUES ('24h', interval '1 day'), ('7d', interval '7 days'), ('30d', interval '30 days')
) AS w(window_label, span)
-- Each window computed on its own, so a query for one window reads only that window.
CROSS JOIN LATERAL (
    WITH window_days AS (
        SELECT
            g.day::date AS day,
            greatest(g.day AT TIME ZONE 'UTC', statement_timestamp() - w.span) AS lo,
            least((g.day + interval '1 day') AT TIME ZONE 'UTC', statement_timestamp()) AS hi,
            -- Whole inside the window, and rolled up.
            g.day AT TIME ZONE 'UTC' >= statement_timestamp() - w.span
                AND (g.day + interval '1 day') AT TIME ZONE 'UTC' <= statement_timestamp()
                AND EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = g.day::date)
                AS from_rollup
        FROM generate_series(
            date_trunc('day', (statement_timestamp() - w.span) AT TIME ZONE 'UTC'),
            date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC'),
            interval '1 day'
        ) AS g(day)
    ),
    counted AS (
        SELECT
            t.platform::text AS platform,
            t.finished_runs::bigint AS finished_runs,
            (t.successes + t.failures)::bigint AS outcome_runs,
            t.failures::bigint AS failures
        -- An array of days: read through the index, day by day.
        FROM public.runs_dailyplatformcount t
        WHERE t.day = ANY (ARRAY(SELECT wd.day FROM window_days wd WHERE wd.from_rollup))
        UNION ALL
        SELECT
            p.platform::text AS platform,
            count(*) FILTER (
                WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')
            ) AS finished_runs,
            count(*) FILTER (WHERE r.status IN ('success', 'failed')) AS outcome_runs,
            count(*) FILTER (WHERE r.status = 'failed') AS failures
        FROM window_days wd
        JOIN runs_run r ON r.started_at >= wd.lo AND r.started_at < wd.hi
        JOIN inventory_pipeline p ON p.id = r.pipeline_id
        WHERE NOT wd.from_rollup
        GROUP BY p.platform
    )
    SELECT
        w.window_label,
        w.span,
        pl.platform,
        pl.pipelines,
        COALESCE(agg.finished_runs, 0) AS finished_runs,
        COALESCE(agg.outcome_runs, 0) AS outcome_runs,
        COALESCE(agg.failures, 0) AS failures
    FROM (
        SELECT
            p.platform::text AS platform,
            count(*) FILTER (WHERE p.is_active AND c.is_active) AS pipelines
        FROM inventory_pipeline p
        JOIN inventory_client c ON c.id = p.client_id
        GROUP BY p.platform
    ) AS pl
    LEFT JOIN (
        SELECT
            c.platform,
            sum(c.finished_runs)::bigint AS finished_runs,
            sum(c.outcome_runs)::bigint AS outcome_runs,
            sum(c.failures)::bigint AS failures
        FROM counted c
        GROUP BY c.platform
    ) AS agg ON agg.platform = pl.platform
) AS win;
