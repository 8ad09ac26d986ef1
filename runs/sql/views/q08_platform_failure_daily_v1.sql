-- Q8 per day: per UTC day (by started_at) and platform, the current day and the 89 before it.
-- Same definitions as q08_platform_failure_rates; days come from a generated calendar so a
-- filter on bucket_start reads only those days' runs (index run_started_incl).
CREATE VIEW reporting.q08_platform_failure_daily AS
SELECT
    concat_ws('/', to_char(d.day, 'YYYY-MM-DD'), agg.platform) AS row_key,
    d.day AT TIME ZONE 'UTC' AS bucket_start,
    agg.platform,
    agg.finished_runs,
    agg.outcome_runs,
    agg.failures,
    agg.failures::double precision / NULLIF(agg.outcome_runs, 0) AS failure_rate,
    CASE WHEN agg.outcome_runs > 0 THEN (
        agg.failures::double precision / agg.outcome_runs + 1.96 ^ 2 / (2 * agg.outcome_runs)
        - 1.96 * sqrt(
            (agg.failures::double precision / agg.outcome_runs)
            * (1 - agg.failures::double precision / agg.outcome_runs) / agg.outcome_runs
            + 1.96 ^ 2 / (4.0 * agg.outcome_runs ^ 2)
        )
    ) / (1 + 1.96 ^ 2 / agg.outcome_runs) END AS wilson_lower,
    (agg.outcome_runs < 20) AS low_sample
FROM generate_series(
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '89 days',
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC'),
        interval '1 day'
    ) AS d(day)
CROSS JOIN LATERAL (
    SELECT
        p.platform::text AS platform,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')) AS finished_runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed')) AS outcome_runs,
        count(*) FILTER (WHERE r.status = 'failed') AS failures
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    WHERE r.started_at >= d.day AT TIME ZONE 'UTC'
      AND r.started_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
    GROUP BY p.platform
) AS agg;
