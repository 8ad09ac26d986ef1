-- PostgreSQL allows transition tables only on single-event triggers: one per event.
CREATE TRIGGER runs_run_rollup_after_insert
    AFTER INSERT ON runs_run
    REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

