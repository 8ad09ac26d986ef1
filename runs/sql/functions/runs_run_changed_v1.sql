CREATE FUNCTION runs_run_changed() RETURNS trigger
LANGUAGE plpgsql AS $function$
DECLARE
    touched bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.pipeline_id) INTO touched FROM new_runs n;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Only changes the state can depend on; a metadata-only update recomputes nothing.
        SELECT array_agg(DISTINCT x.pipeline_id) INTO touched
        FROM (
            SELECT n.pipeline_id
            FROM new_runs n
            JOIN old_runs o ON o.id = n.id
            WHERE (n.pipeline_id, n.external_run_id, n.status, n.started_at, n.finished_at, n.error_message)
                IS DISTINCT FROM (o.pipeline_id, o.external_run_id, o.status, o.started_at, o.finished_at, o.error_message)
            UNION ALL
            SELECT o.pipeline_id
            FROM new_runs n
            JOIN old_runs o ON o.id = n.id
            WHERE n.pipeline_id <> o.pipeline_id
        ) AS x;
    ELSE
        SELECT array_agg(DISTINCT o.pipeline_id) INTO touched FROM old_runs o;
    END IF;
    IF touched IS NOT NULL THEN
        PERFORM runs_refresh_pipeline_state(touched);
    END IF;
    RETURN NULL;
END
$function$;

