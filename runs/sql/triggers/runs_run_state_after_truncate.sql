CREATE TRIGGER runs_run_state_after_truncate
    AFTER TRUNCATE ON runs_run
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_truncated_state();
