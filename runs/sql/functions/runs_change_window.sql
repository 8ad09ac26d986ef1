-- Q5's figures for one pipeline as of ``as_of``: the same expressions as the view's count of
-- the runs (q05_what_changed_v2.sql explains the duration conversion), and the starts of the
-- oldest run of each window, which say until when they hold.
CREATE OR REPLACE FUNCTION runs_change_window(for_pipeline bigint, as_of timestamptz)
RETURNS TABLE (
    week_start timestamptz,
    fortnight_start timestamptz,
    successes_7d bigint,
    failures_7d bigint,
    successes_prev_7d bigint,
    failures_prev_7d bigint,
    p95_duration_seconds_7d double precision,
    p95_duration_seconds_prev_7d double precision,
    oldest_7d timestamptz,
    oldest_14d timestamptz
)
LANGUAGE sql
STABLE
AS $function$
    SELECT
        b.week_start,
        b.fortnight_start,
        count(*) FILTER (WHERE r.recent AND r.status = 'success'),
        count(*) FILTER (WHERE r.recent AND r.status = 'failed'),
        count(*) FILTER (WHERE NOT r.recent AND r.status = 'success'),
        count(*) FILTER (WHERE NOT r.recent AND r.status = 'failed'),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
            FILTER (WHERE r.recent AND r.status = 'success'),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
            FILTER (WHERE NOT r.recent AND r.status = 'success'),
        min(r.started_at) FILTER (WHERE r.recent),
        min(r.started_at)
    FROM (
        SELECT
            as_of - interval '7 days' AS week_start,
            as_of - interval '14 days' AS fortnight_start
    ) AS b
    LEFT JOIN LATERAL (
        SELECT
            r.status,
            r.started_at,
            r.started_at >= b.week_start AS recent,
            CASE
                WHEN r.duration > interval '-1 day' AND r.duration < interval '1 day'
                    THEN date_part('epoch', r.duration)
                ELSE EXTRACT(EPOCH FROM r.duration)::double precision
            END AS seconds
        FROM runs_run r
        WHERE r.pipeline_id = for_pipeline
          AND r.status IN ('success', 'failed')
          AND r.started_at >= b.fortnight_start
          AND r.started_at < as_of
    ) AS r ON true
    GROUP BY b.week_start, b.fortnight_start
$function$;

