CREATE TRIGGER inventory_pipeline_rollup_after_update
    AFTER UPDATE ON inventory_pipeline
    REFERENCING OLD TABLE AS old_pipelines NEW TABLE AS new_pipelines
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_pipeline_invalidate_rollup();
