-- Every day at once: after the locks of every day a refresh may be counting right now.
CREATE FUNCTION runs_rollup_invalidate_all() RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM runs_rollup_lock_days_shared(ARRAY(
        SELECT d::date
        FROM generate_series(
            (SELECT min(r) - 1 FROM runs_rollup_refreshable_days() AS r),
            (SELECT max(r) FROM runs_rollup_refreshable_days() AS r),
            interval '1 day'
        ) AS g(d)
    ));
    DELETE FROM runs_rolledupday;
    DELETE FROM runs_dailyruncount;
END
$$;

