-- Q1 failures over time, v2: the same rows as v1, read from the daily rollup
-- (runs_dailyruncount) for the closed days that have one, and counted from the runs for the
-- others (the current day, days not rolled up yet or changed since). A day's marker and its
-- counts change in one transaction, so within one snapshot each day is taken wholly from one
-- source. The calendar still drives the reads: a filter on bucket_start touches only those days.
CREATE OR REPLACE VIEW reporting.q01_failures_over_time AS
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
        k.client_id,
        k.platform::text AS platform,
        k.runs::bigint AS runs,
        k.finished_runs::bigint AS finished_runs,
        k.successes::bigint AS successes,
        k.failures::bigint AS failures,
        k.canceled::bigint AS canceled,
        k.skipped::bigint AS skipped
    FROM public.runs_dailyruncount k
    WHERE k.day = d.day::date
      AND EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = d.day::date)
    UNION ALL
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
      AND NOT EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = d.day::date)
    GROUP BY p.client_id, p.platform
) AS agg
-- Clients joined after counting: one row per (day, client, platform), not one per run.
JOIN inventory_client c ON c.id = agg.client_id;
