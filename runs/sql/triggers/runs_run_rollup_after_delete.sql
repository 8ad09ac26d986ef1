CREATE TRIGGER runs_run_rollup_after_delete
    AFTER DELETE ON runs_run
    REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

