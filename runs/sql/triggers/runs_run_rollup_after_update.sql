CREATE TRIGGER runs_run_rollup_after_update
    AFTER UPDATE ON runs_run
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

