CREATE FUNCTION runs_run_truncated_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM runs_rollup_invalidate_all();
    RETURN NULL;
END
$$;

