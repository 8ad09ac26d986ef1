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

