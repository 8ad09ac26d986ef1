-- The daily rollup (runs_rolledupday, runs_dailyruncount; runs/rollups.py) stays exact because
-- every change to the runs of a day deletes that day's rollup in the same transaction.
--
-- The lock protocol, on advisory locks (7302, day as days since 1970-01-01):
--   * writers take the day's lock SHARED, then delete the day's marker and counts in a later
--     statement: writers of one day never wait for each other;
--   * a refresh takes the day's lock EXCLUSIVE, so it waits for the writers of that day that
--     are still in flight, then counts the day in a new statement, whose snapshot (READ
--     COMMITTED) holds every run those writers committed.
-- A writer that arrives during a refresh waits for it to commit, and its own later DELETE then
-- sees (and removes) the marker the refresh wrote. Either way no snapshot ever sees a marker
-- whose counts miss a committed run. This needs READ COMMITTED: under REPEATABLE READ the
-- writer's DELETE would use a snapshot from before the refresh committed, so such writes are
-- refused rather than allowed to leave a stale day behind.

CREATE FUNCTION runs_rollup_lock_key(day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT day - date '1970-01-01' $$;

-- The closed days a refresh may roll up: the 365 before the current UTC day (what Q1 shows).
CREATE FUNCTION runs_rollup_refreshable_days() RETURNS SETOF date
LANGUAGE sql STABLE
AS $$
    SELECT g.day::date
    FROM generate_series(
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '365 days',
        date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '1 day',
        interval '1 day'
    ) AS g(day)
$$;

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

CREATE FUNCTION runs_run_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Each branch reads only the transition tables its event has; PL/pgSQL plans a statement
    -- on first use, so the others are never looked at.
    IF TG_OP = 'INSERT' THEN
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT (n.started_at AT TIME ZONE 'UTC')::date FROM new_runs n
        ));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT (o.started_at AT TIME ZONE 'UTC')::date FROM old_runs o
        ));
    ELSE
        -- Only what the counts depend on: a run's day, status and pipeline. Both the day it
        -- left and the day it moved to.
        PERFORM runs_rollup_invalidate_days(ARRAY(
            SELECT DISTINCT changed.day
            FROM old_runs o
            JOIN new_runs n ON n.id = o.id
            CROSS JOIN LATERAL (
                VALUES ((o.started_at AT TIME ZONE 'UTC')::date),
                       ((n.started_at AT TIME ZONE 'UTC')::date)
            ) AS changed(day)
            WHERE (o.started_at, o.status, o.pipeline_id)
                  IS DISTINCT FROM (n.started_at, n.status, n.pipeline_id)
        ));
    END IF;
    RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables only on single-event triggers: one per event.
CREATE TRIGGER runs_run_rollup_after_insert
    AFTER INSERT ON runs_run
    REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

CREATE TRIGGER runs_run_rollup_after_update
    AFTER UPDATE ON runs_run
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

CREATE TRIGGER runs_run_rollup_after_delete
    AFTER DELETE ON runs_run
    REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_invalidate_rollup();

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

CREATE FUNCTION runs_run_truncated_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM runs_rollup_invalidate_all();
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_run_rollup_after_truncate
    AFTER TRUNCATE ON runs_run
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_truncated_invalidate_rollup();

-- The counts are per client and platform as the pipeline has them when a day is rolled up:
-- moving a pipeline to another client or platform changes every day it ran on. Rare enough to
-- drop the whole rollup (the next refresh rebuilds it).
CREATE FUNCTION inventory_pipeline_invalidate_rollup() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (
        SELECT 1
        FROM old_pipelines o
        JOIN new_pipelines n ON n.id = o.id
        WHERE (o.client_id, o.platform) IS DISTINCT FROM (n.client_id, n.platform)
    ) THEN
        PERFORM runs_rollup_invalidate_all();
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER inventory_pipeline_rollup_after_update
    AFTER UPDATE ON inventory_pipeline
    REFERENCING OLD TABLE AS old_pipelines NEW TABLE AS new_pipelines
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_pipeline_invalidate_rollup();
