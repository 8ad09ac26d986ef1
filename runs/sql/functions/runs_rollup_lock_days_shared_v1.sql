CREATE FUNCTION runs_rollup_lock_days_shared(days date[]) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    locked_day date;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'runs can only be written under READ COMMITTED isolation, not %',
            current_setting('transaction_isolation')
            USING HINT = 'The daily rollup''s invalidation needs a fresh snapshot per statement.';
    END IF;
    -- Only the days a refresh may be counting: the refreshable ones, today and later (they
    -- close while this transaction may still be open), and the day before the horizon (a
    -- refresh that listed its days before midnight). Older days are never rolled up again, so
    -- a bulk load over years of history does not take a lock per day. In ascending order, like
    -- every other taker of several day locks.
    FOR locked_day IN
        SELECT DISTINCT d
        FROM unnest(days) AS u(d)
        WHERE d >= (SELECT min(r) - 1 FROM runs_rollup_refreshable_days() AS r)
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock_shared(7302, runs_rollup_lock_key(locked_day));
    END LOOP;
END
$$;

