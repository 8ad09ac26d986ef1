-- Q1 failures over time: per UTC day (by started_at), client and platform, over the current
-- day and the 365 before it. The days come from a generated calendar joined LATERAL to the
-- runs of that day, so a filter on bucket_start only reads the runs of the chosen days
-- (index run_started) whatever the size of the history.
CREATE VIEW reporting.q01_failures_over_time AS
SELECT
    concat_ws('/', to_char(d.day, 'YYYY-MM-DD'), agg.client_slug, agg.platform) AS row_key,
    d.day AT TIME ZONE 'UTC' AS bucket_start,
    agg.client_id,
    agg.client_slug,
    agg.client_name,
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
        c.id AS client_id,
        c.slug::text AS client_slug,
        c.name::text AS client_name,
        p.platform::text AS platform,
        count(*) AS runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')) AS finished_runs,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        count(*) FILTER (WHERE r.status = 'failed') AS failures,
        count(*) FILTER (WHERE r.status = 'canceled') AS canceled,
        count(*) FILTER (WHERE r.status = 'skipped') AS skipped
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.started_at >= d.day AT TIME ZONE 'UTC'
      AND r.started_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
    GROUP BY c.id, c.slug, c.name, p.platform
) AS agg;
