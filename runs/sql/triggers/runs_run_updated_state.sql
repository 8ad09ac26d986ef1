CREATE TRIGGER runs_run_updated_state
    AFTER UPDATE ON runs_run REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_changed();
