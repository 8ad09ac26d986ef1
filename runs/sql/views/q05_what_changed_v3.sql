-- Q5 what changed, version 3: the same rows and values as versions 1 and 2 (the definition
-- is in q05_what_changed_v2.sql), reading each pipeline's figures from its what-changed
-- window in runs_pipelinestate while that window is current, and counting the pipeline's
-- runs of the last 14 days, as version 2 did, only when it is not (no window yet, runs
-- written since, or a run crossed a window's edge since it was computed).
-- runs/sql/change_windows_v1.sql says when a window is current and why the two agree;
-- `manage.py refresh_rollups` computes windows again as they expire.
--
-- Version 2 read about 13 runs per pipeline, found by one index lookup per pipeline: at
-- 10,000 pipelines and 10 M runs about 100 ms, most of it the lookups and the percentiles. A
-- current window is one row of a table the view joins anyway.
CREATE OR REPLACE VIEW reporting.q05_what_changed AS
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
    FROM (
        SELECT
            statement_timestamp() - interval '7 days' AS week_start,
            statement_timestamp() - interval '14 days' AS fortnight_start
        OFFSET 0
    ) AS b
    CROSS JOIN inventory_pipeline p
    JOIN inventory_client c ON c.id = p.client_id
    LEFT JOIN runs_pipelinestate s ON s.pipeline_id = p.id
    CROSS JOIN LATERAL (
        -- The pipeline's window, while it is current: one row read.
        SELECT
            s.changes_successes_7d AS successes_7d,
            s.changes_failures_7d AS failures_7d,
            s.changes_successes_prev_7d AS successes_prev_7d,
            s.changes_failures_prev_7d AS failures_prev_7d,
            s.changes_p95_seconds_7d AS p95_duration_seconds_7d,
            s.changes_p95_seconds_prev_7d AS p95_duration_seconds_prev_7d
        WHERE runs_change_window_is_current(
            s.changes_as_of,
            s.changes_week_start,
            s.changes_fortnight_start,
            s.changes_oldest_7d,
            s.changes_oldest_14d,
            statement_timestamp()
        )
        UNION ALL
        -- Otherwise its runs of the last 14 days, counted as version 2 counts them. The
        -- condition depends on the pipeline only, so the runs are not read at all when the
        -- window is current.
        SELECT
            count(*) FILTER (WHERE r.recent AND r.status = 'success'),
            count(*) FILTER (WHERE r.recent AND r.status = 'failed'),
            count(*) FILTER (WHERE NOT r.recent AND r.status = 'success'),
            count(*) FILTER (WHERE NOT r.recent AND r.status = 'failed'),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
                FILTER (WHERE r.recent AND r.status = 'success'),
            percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
                FILTER (WHERE NOT r.recent AND r.status = 'success')
        FROM (
            SELECT
                r.status,
                r.started_at >= b.week_start AS recent,
                CASE
                    WHEN r.duration > interval '-1 day' AND r.duration < interval '1 day'
                        THEN date_part('epoch', r.duration)
                    ELSE EXTRACT(EPOCH FROM r.duration)::double precision
                END AS seconds
            FROM runs_run r
            WHERE r.pipeline_id = p.id
              AND r.status IN ('success', 'failed')
              AND r.started_at >= b.fortnight_start
              AND r.started_at < statement_timestamp()
        ) AS r
        HAVING runs_change_window_is_current(
            s.changes_as_of,
            s.changes_week_start,
            s.changes_fortnight_start,
            s.changes_oldest_7d,
            s.changes_oldest_14d,
            statement_timestamp()
        ) IS NOT TRUE
    ) AS w
    WHERE p.is_active AND c.is_active
) AS x;
