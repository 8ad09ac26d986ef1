-- Q3 latest status by client, v2: the same rows as v1. The two weeks of outcomes no longer
-- come from every run of the window: whole closed days inside one of the two 7-day windows are
-- read from the daily rollup (runs_dailyruncount) when they have one, and only the rest (the
-- partial day where the window starts, the day the 7-day boundary cuts, the current day, days
-- not rolled up) are counted from the runs. The windows stay rolling (statement_timestamp()
-- minus 7 and 14 days), not aligned to days.
CREATE OR REPLACE VIEW reporting.q03_client_health AS
WITH bounds AS (
    SELECT
        statement_timestamp() - interval '14 days' AS since,
        statement_timestamp() - interval '7 days' AS split,
        statement_timestamp() AS until
),
window_days AS (
    SELECT
        g.day::date AS day,
        greatest(g.day AT TIME ZONE 'UTC', b.since) AS lo,
        least((g.day + interval '1 day') AT TIME ZONE 'UTC', b.until) AS hi,
        g.day AT TIME ZONE 'UTC' >= b.split AS in_last_7d,
        -- Whole inside [since, until), not cut by split, and rolled up.
        g.day AT TIME ZONE 'UTC' >= b.since
            AND (g.day + interval '1 day') AT TIME ZONE 'UTC' <= b.until
            AND NOT (
                g.day AT TIME ZONE 'UTC' < b.split
                AND (g.day + interval '1 day') AT TIME ZONE 'UTC' > b.split
            )
            AND EXISTS (SELECT 1 FROM public.runs_rolledupday m WHERE m.day = g.day::date)
            AS from_rollup
    FROM bounds b
    CROSS JOIN generate_series(
        date_trunc('day', b.since AT TIME ZONE 'UTC'),
        date_trunc('day', b.until AT TIME ZONE 'UTC'),
        interval '1 day'
    ) AS g(day)
),
outcomes AS (
    -- A rolled-up day lies wholly on one side of split, so its date tells which.
    SELECT
        k.client_id,
        sum(k.successes + k.failures) FILTER (WHERE k.day >= l.first_day) AS outcome_runs_7d,
        sum(k.failures) FILTER (WHERE k.day >= l.first_day) AS failures_7d,
        sum(k.successes + k.failures) FILTER (WHERE k.day < l.first_day) AS outcome_runs_prev_7d,
        sum(k.failures) FILTER (WHERE k.day < l.first_day) AS failures_prev_7d
    FROM (SELECT min(w.day) AS first_day FROM window_days w WHERE w.in_last_7d) AS l
    -- An array of days: read through the index, day by day.
    JOIN public.runs_dailyruncount k
      ON k.day = ANY (ARRAY(SELECT w.day FROM window_days w WHERE w.from_rollup))
    GROUP BY k.client_id
    UNION ALL
    SELECT
        p.client_id,
        count(*) FILTER (WHERE r.started_at >= b.split) AS outcome_runs_7d,
        count(*) FILTER (WHERE r.started_at >= b.split AND r.status = 'failed') AS failures_7d,
        count(*) FILTER (WHERE r.started_at < b.split) AS outcome_runs_prev_7d,
        count(*) FILTER (WHERE r.started_at < b.split AND r.status = 'failed') AS failures_prev_7d
    FROM bounds b
    CROSS JOIN window_days w
    JOIN runs_run r ON r.started_at >= w.lo AND r.started_at < w.hi
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    WHERE NOT w.from_rollup
      AND r.status IN ('success', 'failed')
    GROUP BY p.client_id
),
outcomes_by_client AS (
    SELECT
        client_id,
        sum(outcome_runs_7d)::bigint AS outcome_runs_7d,
        sum(failures_7d)::bigint AS failures_7d,
        sum(outcome_runs_prev_7d)::bigint AS outcome_runs_prev_7d,
        sum(failures_prev_7d)::bigint AS failures_prev_7d
    FROM outcomes
    GROUP BY client_id
),
-- Counted from Q2's health, so that both views agree; all clients in one pass over Q2.
health_by_client AS (
    SELECT
        s.client_id,
        count(*) AS pipelines,
        count(*) FILTER (WHERE s.health = 'healthy') AS healthy,
        count(*) FILTER (WHERE s.health = 'failing') AS failing,
        count(*) FILTER (WHERE s.health = 'running') AS running,
        count(*) FILTER (WHERE s.health = 'stale') AS stale,
        count(*) FILTER (WHERE s.health = 'never_run') AS never_run
    FROM reporting.q02_pipeline_latest_status s
    WHERE s.is_active
    GROUP BY s.client_id
)
SELECT
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    c.is_active,
    COALESCE(h.pipelines, 0) AS pipelines,
    COALESCE(h.healthy, 0) AS healthy,
    COALESCE(h.failing, 0) AS failing,
    COALESCE(h.running, 0) AS running,
    COALESCE(h.stale, 0) AS stale,
    COALESCE(h.never_run, 0) AS never_run,
    w.outcome_runs_7d,
    w.failures_7d,
    w.failures_7d::double precision / NULLIF(w.outcome_runs_7d, 0) AS failure_rate_7d,
    w.outcome_runs_prev_7d,
    w.failures_prev_7d,
    w.failures_prev_7d::double precision / NULLIF(w.outcome_runs_prev_7d, 0) AS failure_rate_prev_7d,
    w.failures_7d::double precision / NULLIF(w.outcome_runs_7d, 0)
        - w.failures_prev_7d::double precision / NULLIF(w.outcome_runs_prev_7d, 0)
        AS failure_rate_change
FROM inventory_client c
LEFT JOIN health_by_client h ON h.client_id = c.id
-- A client without outcomes in the window has no row there: zeros, as v1's counts give.
LEFT JOIN outcomes_by_client o ON o.client_id = c.id
CROSS JOIN LATERAL (
    SELECT
        COALESCE(o.outcome_runs_7d, 0) AS outcome_runs_7d,
        COALESCE(o.failures_7d, 0) AS failures_7d,
        COALESCE(o.outcome_runs_prev_7d, 0) AS outcome_runs_prev_7d,
        COALESCE(o.failures_prev_7d, 0) AS failures_prev_7d
) AS w;
