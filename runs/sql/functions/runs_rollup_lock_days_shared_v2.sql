CREATE OR REPLACE FUNCTION runs_rollup_lock_days_shared(days date[]) RETURNS void
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
    -- The day before the oldest refreshable day (runs_rollup_refreshable_days: the 365 before
    -- the current UTC day) and later, in ascending order.
    FOR locked_day IN
        SELECT DISTINCT d
        FROM unnest(days) AS u(d)
        WHERE d >= (date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC')
                    - interval '366 days')::date
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock_shared(7302, runs_rollup_lock_key(locked_day));
    END LOOP;
END
$$;

