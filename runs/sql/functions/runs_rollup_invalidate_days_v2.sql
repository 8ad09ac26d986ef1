-- The daily rollup's invalidation, v2: the day's per-platform totals (runs_dailyplatformcount)
-- go with its marker and its per-client counts, in the same statements' transaction, under the
-- same locks (daily_rollup_invalidation_v1.sql explains the protocol). Only these two functions
-- change; the triggers that call them stay.
CREATE OR REPLACE FUNCTION runs_rollup_invalidate_days(days date[]) RETURNS void
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
    -- Counts and totals exist only next to their marker (all three are written and deleted
    -- together), so a day that was never rolled up, like the current one, costs one probe.
    IF FOUND THEN
        DELETE FROM runs_dailyruncount WHERE day = ANY (days);
        DELETE FROM runs_dailyplatformcount WHERE day = ANY (days);
    END IF;
END
$$;

