-- Q5 what changed: per active pipeline, the last 7 days against the 7 days before (by
-- started_at): failure rate over success-or-failed runs, and the p95 duration of successful
-- runs. Each pipeline reads only its own last 14 days of runs (index run_pipeline_outcome_incl).
--   newly failing: failures in the last 7 days and none in the 7 before;
--   recovered: failures in the 7 days before, none since, and at least one success since;
--   slower: at least 5 successful runs in each period and a p95 duration grown by half or more.
CREATE VIEW reporting.q05_what_changed AS
SELECT
    x.*,
    x.failure_rate_7d - x.failure_rate_prev_7d AS failure_rate_change,
    x.p95_duration_seconds_7d / NULLIF(x.p95_duration_seconds_prev_7d, 0) AS p95_duration_ratio,
    (x.failures_7d > 0 AND x.failures_prev_7d = 0) AS is_newly_failing,
    (x.failures_prev_7d > 0 AND x.failures_7d = 0 AND x.successes_7d > 0) AS is_recovered,
    (
        x.successes_7d >= 5 AND x.successes_prev_7d >= 5
        AND x.p95_duration_seconds_7d >= 1.5 * x.p95_duration_seconds_prev_7d
    ) AS is_slower,
    CASE
        WHEN x.failures_7d > 0 AND x.failures_prev_7d = 0 THEN 'newly failing'
        WHEN x.failures_prev_7d > 0 AND x.failures_7d = 0 AND x.successes_7d > 0 THEN 'recovered'
        WHEN x.successes_7d >= 5 AND x.successes_prev_7d >= 5
             AND x.p95_duration_seconds_7d >= 1.5 * x.p95_duration_seconds_prev_7d THEN 'slower'
    END AS change
FROM (
    SELECT
        p.id AS pipeline_id,
        p.slug::text AS pipeline_slug,
        COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
        c.id AS client_id,
        c.slug::text AS client_slug,
        c.name::text AS client_name,
        p.platform::text AS platform,
        p.owner::text AS owner,
        w.successes_7d,
        w.failures_7d,
        w.failures_7d::double precision / NULLIF(w.successes_7d + w.failures_7d, 0) AS failure_rate_7d,
        w.successes_prev_7d,
        w.failures_prev_7d,
        w.failures_prev_7d::double precision
            / NULLIF(w.successes_prev_7d + w.failures_prev_7d, 0) AS failure_rate_prev_7d,
        w.p95_duration_seconds_7d,
        w.p95_duration_seconds_prev_7d
    FROM inventory_pipeline p
    JOIN inventory_client c ON c.id = p.client_id
    CROSS JOIN LATERAL (
        SELECT
            count(*) FILTER (WHERE r.recent AND r.status = 'success') AS successes_7d,
            count(*) FILTER (WHERE r.recent AND r.status = 'failed') AS failures_7d,
            count(*) FILTER (WHERE NOT r.recent AND r.status = 'success') AS successes_prev_7d,
            count(*) FILTER (WHERE NOT r.recent AND r.status = 'failed') AS failures_prev_7d,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
                FILTER (WHERE r.recent AND r.status = 'success') AS p95_duration_seconds_7d,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
                FILTER (WHERE NOT r.recent AND r.status = 'success') AS p95_duration_seconds_prev_7d
        FROM (
            SELECT
                r.status,
                r.started_at >= statement_timestamp() - interval '7 days' AS recent,
                EXTRACT(EPOCH FROM r.duration)::double precision AS seconds
            FROM runs_run r
            WHERE r.pipeline_id = p.id
              AND r.status IN ('success', 'failed')
              AND r.started_at >= statement_timestamp() - interval '14 days'
              AND r.started_at < statement_timestamp()
        ) AS r
    ) AS w
    WHERE p.is_active AND c.is_active
) AS x;
