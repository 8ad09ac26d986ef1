CREATE FUNCTION runs_rollup_invalidate_days(days date[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF cardinality(days) = 0 THEN
        RETURN;
    END IF;
    PERFORM runs_rollup_lock_days_shared(days);
    -- Separate statements from the locking above: each takes a new snapshot, which includes a
    -- refresh that committed while this transaction waited for the lock.
    DELETE FROM runs_rolledupday WHERE day = ANY (days);
    -- Counts exist only next to their marker (both are written and deleted together), so a
    -- day that was never rolled up, like the current one, costs one index probe.
    IF FOUND THEN
        DELETE FROM runs_dailyruncount WHERE day = ANY (days);
    END IF;
END
$$;

