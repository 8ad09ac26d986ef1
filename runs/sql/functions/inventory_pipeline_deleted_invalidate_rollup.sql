-- Deleting pipelines (one, or a client's) deletes their runs, which every rolled-up day may
-- have counted. Rare enough to drop the whole rollup (the next refresh counts it again), as
-- inventory_pipeline_rollup_after_update does when a pipeline changes client or platform.
CREATE FUNCTION inventory_pipeline_deleted_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM runs_rollup_invalidate_all();
    RETURN NULL;
END
$function$;

