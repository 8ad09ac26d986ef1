CREATE TRIGGER runs_run_deleted_state
    AFTER DELETE ON runs_run REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_changed();
