-- Q8 platform failure rates: per platform and window (the last 24 hours, 7 days and 30 days,
-- by started_at). Failure rate = failed / (success + failed); the ranking key is the lower bound of its Wilson 95 % interval (z = 1.96), so a
-- platform with few runs does not top the list on one bad day. low_sample: under 20 runs.
-- pipelines: active pipelines on the platform (runs of inactive ones still count).
CREATE VIEW reporting.q08_platform_failure_rates AS
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
-- One read of each window's runs (index run_started_incl), so a query for one window reads
-- only that window.
CROSS JOIN LATERAL (
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
            p.platform::text AS platform,
            count(*) FILTER (
                WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')
            ) AS finished_runs,
            count(*) FILTER (WHERE r.status IN ('success', 'failed')) AS outcome_runs,
            count(*) FILTER (WHERE r.status = 'failed') AS failures
        FROM runs_run r
        JOIN inventory_pipeline p ON p.id = r.pipeline_id
        WHERE r.started_at >= statement_timestamp() - w.span
          AND r.started_at < statement_timestamp()
        GROUP BY p.platform
    ) AS agg ON agg.platform = pl.platform
) AS win;
