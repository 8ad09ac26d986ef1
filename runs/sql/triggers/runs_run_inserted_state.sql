CREATE TRIGGER runs_run_inserted_state
    AFTER INSERT ON runs_run REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_changed();
