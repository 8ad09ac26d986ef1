CREATE OR REPLACE FUNCTION runs_run_changed() RETURNS trigger
LANGUAGE plpgsql AS $function$
DECLARE
    pipelines bigint[];
    days date[];
BEGIN
    -- Each branch reads only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.pipeline_id),
               array_agg(DISTINCT (n.started_at AT TIME ZONE 'UTC')::date)
        INTO pipelines, days
        FROM new_runs n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT o.pipeline_id),
               array_agg(DISTINCT (o.started_at AT TIME ZONE 'UTC')::date)
        INTO pipelines, days
        FROM old_runs o;
    ELSE
        -- Only changes something depends on. The state: a run's pipeline, id, status, times
        -- and error (both pipelines when it moved). The rollup: its day, status and pipeline
        -- (both days when it moved).
        SELECT array_agg(DISTINCT x.pipeline_id) FILTER (WHERE x.for_state),
               array_agg(DISTINCT x.day) FILTER (WHERE x.for_rollup)
        INTO pipelines, days
        FROM (
            SELECT
                moved.pipeline_id,
                moved.day,
                (n.pipeline_id, n.external_run_id, n.status, n.started_at, n.finished_at, n.error_message)
                    IS DISTINCT FROM (o.pipeline_id, o.external_run_id, o.status, o.started_at, o.finished_at, o.error_message)
                    AS for_state,
                (n.started_at, n.status, n.pipeline_id)
                    IS DISTINCT FROM (o.started_at, o.status, o.pipeline_id) AS for_rollup
            FROM old_runs o
            JOIN new_runs n ON n.id = o.id
            CROSS JOIN LATERAL (
                VALUES (o.pipeline_id, (o.started_at AT TIME ZONE 'UTC')::date),
                       (n.pipeline_id, (n.started_at AT TIME ZONE 'UTC')::date)
            ) AS moved(pipeline_id, day)
        ) AS x;
    END IF;
    IF days IS NOT NULL THEN
        PERFORM runs_rollup_invalidate_days(days);
    END IF;
    IF pipelines IS NOT NULL THEN
        PERFORM runs_refresh_pipeline_state(pipelines);
    END IF;
    RETURN NULL;
END
$function$;

