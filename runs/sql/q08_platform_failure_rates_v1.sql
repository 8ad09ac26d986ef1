-- Q8 platform failure rates: per platform and window (the last 24 hours, 7 days and 30 days,
-- by started_at), one read of the last 30 days of runs. Failure rate = failed / (success +
-- failed); the ranking key is the lower bound of its Wilson 95 % interval (z = 1.96), so a
-- platform with few runs does not top the list on one bad day. low_sample: under 20 runs.
-- pipelines: active pipelines on the platform (runs of inactive ones still count).
CREATE VIEW reporting.q08_platform_failure_rates AS
SELECT
    concat_ws('/', pl.platform, win.window_label) AS row_key,
    pl.platform,
    win.window_label,
    statement_timestamp() - win.span AS window_start,
    statement_timestamp() AS window_end,
    pl.pipelines,
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
        count(*) FILTER (WHERE r.day AND r.finished) AS finished_1d,
        count(*) FILTER (WHERE r.day AND r.status IN ('success', 'failed')) AS outcome_1d,
        count(*) FILTER (WHERE r.day AND r.status = 'failed') AS failures_1d,
        count(*) FILTER (WHERE r.week AND r.finished) AS finished_7d,
        count(*) FILTER (WHERE r.week AND r.status IN ('success', 'failed')) AS outcome_7d,
        count(*) FILTER (WHERE r.week AND r.status = 'failed') AS failures_7d,
        count(*) FILTER (WHERE r.finished) AS finished_30d,
        count(*) FILTER (WHERE r.status IN ('success', 'failed')) AS outcome_30d,
        count(*) FILTER (WHERE r.status = 'failed') AS failures_30d
    FROM (
        SELECT
            r.pipeline_id,
            r.status,
            r.status IN ('success', 'failed', 'canceled', 'skipped') AS finished,
            r.started_at >= statement_timestamp() - interval '1 day' AS day,
            r.started_at >= statement_timestamp() - interval '7 days' AS week
        FROM runs_run r
        WHERE r.started_at >= statement_timestamp() - interval '30 days' AND r.started_at < statement_timestamp()
    ) AS r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    GROUP BY p.platform
) AS agg ON agg.platform = pl.platform
CROSS JOIN LATERAL (
    VALUES
        ('24h', interval '1 day', COALESCE(agg.finished_1d, 0), COALESCE(agg.outcome_1d, 0), COALESCE(agg.failures_1d, 0)),
        ('7d', interval '7 days', COALESCE(agg.finished_7d, 0), COALESCE(agg.outcome_7d, 0), COALESCE(agg.failures_7d, 0)),
        ('30d', interval '30 days', COALESCE(agg.finished_30d, 0), COALESCE(agg.outcome_30d, 0), COALESCE(agg.failures_30d, 0))
) AS win(window_label, span, finished_runs, outcome_runs, failures);
