-- What-changed windows per pipeline, kept beside its run state (runs_pipelinestate), so that
-- Q5 (runs/sql/q05_what_changed_v3.sql) reads one row per pipeline instead of the pipeline's
-- last 14 days of runs, without ever answering differently from counting them.
--
-- A window is Q5's figures for one pipeline as of an instant S (changes_as_of): its success
-- and failed runs in [S - 7 days, S) and [S - 14 days, S - 7 days), their counts and the p95
-- durations of their successes, computed exactly as Q5 counts them. Those figures stay the
-- answer at a later instant T as long as
--   * no run of the pipeline was written since S: every write of runs recomputes the state
--     row in the writing transaction (runs_refresh_pipeline_state below) and clears the
--     window there, so a reader sees either the write and no window, or neither;
--   * no run started at or after S: a window is only computed for pipelines whose newest
--     success-or-failed run started before S (later ones would enter the window as T passes
--     them);
--   * no run crossed an edge between S and T: the oldest run of the last 7 days (as of S) is
--     still within T - 7 days, and the oldest of the 14 days still within T - 14 days.
-- runs_change_window_is_current says so for a state row and an instant; Q5 reads the window
-- when it does and counts the pipeline's runs otherwise. A window therefore expires by
-- itself, about when the oldest run of a week crosses an edge: runs_refresh_change_windows
-- computes windows again (manage.py refresh_rollups, runs/change_windows.py).
--
-- Windows are computed under the locks writers of runs take for the pipeline's state row
-- (runs_lock_pipeline_states): a window computation waits for a writer of its pipelines that
-- has not committed, and its statement's snapshot (READ COMMITTED) then holds what that
-- writer wrote; a writer that comes later waits for it and clears the window.

CREATE OR REPLACE FUNCTION runs_lock_pipeline_states(pipeline_ids bigint[]) RETURNS void
LANGUAGE plpgsql
AS $function$
DECLARE
    pipeline bigint;
BEGIN
    -- A few pipelines: one advisory lock each (in memory, ascending so that takers never
    -- wait on each other in a circle). More: the table, so as never to fill the lock table.
    -- Every taker first holds the table in ROW EXCLUSIVE mode, which SHARE ROW EXCLUSIVE
    -- excludes, so the two kinds take turns too.
    IF cardinality(pipeline_ids) <= 64 THEN
        LOCK TABLE runs_pipelinestate IN ROW EXCLUSIVE MODE;
        FOR pipeline IN SELECT DISTINCT t.id FROM unnest(pipeline_ids) AS t(id) ORDER BY 1 LOOP
            PERFORM pg_advisory_xact_lock(7301, (pipeline % 2147483647)::integer);
        END LOOP;
    ELSE
        LOCK TABLE runs_pipelinestate IN SHARE ROW EXCLUSIVE MODE;
    END IF;
END
$function$;

