CREATE FUNCTION runs_run_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Each branch reads only the transition tables its event has; PL/pgSQL plans a statement
    -- on first use, so the others are never looked at.
    IF TG_OP = 'INSERT' THEN
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT (n.started_at AT TIME ZONE 'UTC')::date FROM new_runs n
        ));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT (o.started_at AT TIME ZONE 'UTC')::date FROM old_runs o
        ));
    ELSE
        -- Only what the counts depend on: a run's day, status and pipeline. Both the day it
        -- left and the day it moved to.
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT changed.day
            FROM old_runs o
            JOIN new_runs n ON n.id = o.id
            CROSS JOIN LATERAL (
                VALUES ((o.started_at AT TIME ZONE 'UTC')::date),
                       ((n.started_at AT TIME ZONE 'UTC')::date)
            ) AS changed(day)
            WHERE (o.started_at, o.status, o.pipeline_id)
                  IS DISTINCT FROM (n.started_at, n.status, n.pipeline_id)
        ));
    END IF;
    RETURN NULL;
END
$$;

