CREATE TRIGGER inventory_pipeline_rollup_after_delete
    AFTER DELETE ON inventory_pipeline
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_pipeline_deleted_invalidate_rollup();
