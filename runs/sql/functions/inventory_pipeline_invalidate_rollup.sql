-- The counts are per client and platform as the pipeline has them when a day is rolled up:
-- moving a pipeline to another client or platform changes every day it ran on. Rare enough to
-- drop the whole rollup (the next refresh rebuilds it).
CREATE FUNCTION inventory_pipeline_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (
        SELECT 1
        FROM old_pipelines o
        JOIN new_pipelines n ON n.id = o.id
        WHERE (o.client_id, o.platform) IS DISTINCT FROM (n.client_id, n.platform)
    ) THEN
        PERFORM runs_rollup_invalidate_all();
    END IF;
    RETURN NULL;
END
$$;

