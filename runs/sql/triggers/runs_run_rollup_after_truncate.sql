CREATE TRIGGER runs_run_rollup_after_truncate
    AFTER TRUNCATE ON runs_run
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_truncated_invalidate_rollup();

