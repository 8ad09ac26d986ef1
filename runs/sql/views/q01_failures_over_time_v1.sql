-- Q1 failures over time: per UTC day (by started_at), client and platform, over the current
-- day and the 365 before it. The days come from a generated calendar joined LATERAL to the
-- runs of that day, so a filter on bucket_start only reads the runs of the chosen days
-- (index run_started_incl) whatever the size of the history.
CREATE VIEW reporting.q01_failures_over_time AS
SELECT
    concat_ws('/', to_char(d.day, 'YYYY-MM-DD'), c.slug, agg.platform) AS row_key,
    d.day AT TIME ZONE 'UTC' AS bucket_start,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    agg.platform,
    agg.runs,
    agg.finished_runs,
    agg.successes,
    agg.failures,
    agg.canceled,
    agg.skipped,
    agg.failures::double precision / NULLIF(agg.successes + agg.failures, 0) AS failure_rate
FROM generate_series(
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '365 days',
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC'),
        interval '1 day'
    ) AS d(day)
CROSS JOIN LATERAL (
    SELECT
        p.client_id,
        p.platform::text AS platform,
        count(*) AS runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')) AS finished_runs,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        count(*) FILTER (WHERE r.status = 'failed') AS failures,
        count(*) FILTER (WHERE r.status = 'canceled') AS canceled,
        count(*) FILTER (WHERE r.status = 'skipped') AS skipped
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    WHERE r.started_at >= d.day AT TIME ZONE 'UTC'
      AND r.started_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
    GROUP BY p.client_id, p.platform
) AS agg
-- Clients joined after counting: one row per (day, client, platform), not one per run.
JOIN inventory_client c ON c.id = agg.client_id;
