-- Q1 per day: Q1 (q01_failures_over_time) summed over clients and platforms, one row per UTC
-- day that had at least one run, over the current day and the 365 before it. Q1 itself has
-- ~3,500 rows a day at 500 clients; summing 30 days of them cost ~40 ms at 10 M runs, for a
-- chart of 30 bars. A closed day with its rollup marker is read from the per-platform totals
-- (runs_dailyplatformcount, ~11 rows a day), any other day counted from the runs. Every run
-- has a pipeline and every pipeline a client (foreign keys), so the runs need no join to be
-- the ones Q1 counts.
CREATE VIEW reporting.q01_failures_per_day AS
SELECT
    to_char(d.day, 'YYYY-MM-DD') AS row_key,
    d.day AT TIME ZONE 'UTC' AS bucket_start,
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
    -- HAVING: a day without runs has no row, as in Q1.
    SELECT
        sum(t.runs)::bigint AS runs,
        sum(t.finished_runs)::bigint AS finished_runs,
        sum(t.successes)::bigint AS successes,
        sum(t.failures)::bigint AS failures,
        sum(t.canceled)::bigint AS canceled,
        sum(t.skipped)::bigint AS skipped
    FROM public.runs_dailyplatformcount t
    WHERE t.day = d.day::date
      AND EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = d.day::date)
    HAVING count(*) > 0
    UNION ALL
    SELECT
        count(*) AS runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')) AS finished_runs,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        count(*) FILTER (WHERE r.status = 'failed') AS failures,
        count(*) FILTER (WHERE r.status = 'canceled') AS canceled,
        count(*) FILTER (WHERE r.status = 'skipped') AS skipped
    FROM runs_run r
    WHERE r.started_at >= d.day AT TIME ZONE 'UTC'
      AND r.started_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
      AND NOT EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = d.day::date)
    HAVING count(*) > 0
) AS agg;
