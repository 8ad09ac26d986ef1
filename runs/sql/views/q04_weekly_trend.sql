-- Q4 trend summary: per UTC week (Monday 00:00) and client, the current week and the 12
-- before it. A client's runs are read through its pipelines (index run_pipeline_started),
-- so a filter on client_slug reads only that client's recent runs.
-- Mean time to recovery: a recovery is a success whose previous success-or-failed run (same
-- pipeline, ordered by started_at, id) failed; its time is from the end of the first failure
-- of that streak to the end of the recovering run, counted in the week the recovery started.
-- Streaks are looked for back to 30 days before the week; an older streak is measured from
-- its first failure inside that look-back.
CREATE VIEW reporting.q04_weekly_trend AS
SELECT
    concat_ws('/', to_char(wk.week, 'YYYY-MM-DD'), c.slug) AS row_key,
    wk.week AT TIME ZONE 'UTC' AS bucket_start,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    COALESCE(counts.runs, 0) AS runs,
    COALESCE(counts.finished_runs, 0) AS finished_runs,
    COALESCE(counts.successes, 0) AS successes,
    COALESCE(counts.failures, 0) AS failures,
    counts.failures::double precision / NULLIF(counts.successes + counts.failures, 0) AS failure_rate,
    counts.p50_duration_seconds,
    counts.p95_duration_seconds,
    COALESCE(rec.recoveries, 0) AS recoveries,
    rec.mttr_seconds
FROM inventory_client c
CROSS JOIN generate_series(
        date_trunc('week', statement_timestamp() AT TIME ZONE 'UTC') - interval '12 weeks',
        date_trunc('week', statement_timestamp() AT TIME ZONE 'UTC'),
        interval '1 week'
    ) AS wk(week)
LEFT JOIN LATERAL (
    SELECT
        count(*) AS runs,
        count(*) FILTER (WHERE r.status IN ('success', 'failed', 'canceled', 'skipped')) AS finished_runs,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        count(*) FILTER (WHERE r.status = 'failed') AS failures,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM r.duration))
            FILTER (WHERE r.status IN ('success', 'failed')) AS p50_duration_seconds,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM r.duration))
            FILTER (WHERE r.status IN ('success', 'failed')) AS p95_duration_seconds
    FROM inventory_pipeline p
    JOIN runs_run r ON r.pipeline_id = p.id
    WHERE p.client_id = c.id
      AND r.started_at >= wk.week AT TIME ZONE 'UTC'
      AND r.started_at < (wk.week + interval '1 week') AT TIME ZONE 'UTC'
) AS counts ON true
LEFT JOIN LATERAL (
    SELECT
        count(*) AS recoveries,
        avg(EXTRACT(EPOCH FROM s.finished_at - s.streak_first_failure_at))::double precision
            AS mttr_seconds
    FROM (
        SELECT
            o.*,
            min(o.finished_at) FILTER (WHERE o.status = 'failed')
                OVER (PARTITION BY o.pipeline_id, o.streak_no) AS streak_first_failure_at
        FROM (
            SELECT
                l.*,
                count(*) FILTER (
                    WHERE l.status = 'failed' AND l.prev_status IS DISTINCT FROM 'failed'
                ) OVER (PARTITION BY l.pipeline_id ORDER BY l.started_at, l.id) AS streak_no
            FROM (
                SELECT
                    r.pipeline_id, r.id, r.status, r.started_at, r.finished_at,
                    lag(r.status) OVER (
                        PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id
                    ) AS prev_status
                FROM inventory_pipeline p
                JOIN runs_run r ON r.pipeline_id = p.id
                WHERE p.client_id = c.id
                  AND r.status IN ('success', 'failed')
                  AND r.started_at >= (wk.week - interval '30 days') AT TIME ZONE 'UTC'
                  AND r.started_at < (wk.week + interval '1 week') AT TIME ZONE 'UTC'
            ) AS l
        ) AS o
    ) AS s
    WHERE s.status = 'success'
      AND s.prev_status = 'failed'
      AND s.started_at >= wk.week AT TIME ZONE 'UTC'
) AS rec ON true;
