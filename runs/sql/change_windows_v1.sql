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

-- Version 3 of the state's recomputation: that of run_triggers_v2.sql, with its locks taken
-- by runs_lock_pipeline_states, and clearing the pipeline's what-changed window.
CREATE OR REPLACE FUNCTION runs_refresh_pipeline_state(pipeline_ids bigint[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $function$
BEGIN
    PERFORM runs_lock_pipeline_states(pipeline_ids);

    INSERT INTO runs_pipelinestate AS s (
        pipeline_id,
        last_run_id,
        last_external_run_id,
        last_status,
        last_started_at,
        last_finished_at,
        last_duration,
        last_outcome_id,
        last_outcome_status,
        last_outcome_started_at,
        last_outcome_error,
        last_success_id,
        last_success_started_at,
        last_success_finished_at,
        last_failure_finished_at,
        last_failure_error,
        consecutive_failures,
        failing_since,
        recent_started_at,
        recent_failures,
        recent_flips,
        recent_newest_flip,
        refreshed_at
    )
    SELECT
        p.id,
        last_run.id,
        last_run.external_run_id,
        last_run.status,
        last_run.started_at,
        last_run.finished_at,
        last_run.duration,
        last_outcome.id,
        last_outcome.status,
        last_outcome.started_at,
        last_outcome.error_message,
        last_success.id,
        last_success.started_at,
        last_success.finished_at,
        last_failure.finished_at,
        last_failure.error_message,
        streak.failures,
        streak.since,
        recent.started_at,
        recent.failures,
        recent.flips,
        recent.newest_flip,
        statement_timestamp()
    FROM (SELECT DISTINCT t.id FROM unnest(pipeline_ids) AS t(id)) AS p
    -- Pipelines left without runs get an empty row here, deleted below.
    LEFT JOIN LATERAL (
        SELECT r.id, r.external_run_id, r.status, r.started_at, r.finished_at, r.duration
        FROM runs_run r
        WHERE r.pipeline_id = p.id
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT 1
    ) AS last_run ON true
    LEFT JOIN LATERAL (
        SELECT r.id, r.status, r.started_at, r.error_message
        FROM runs_run r
        WHERE r.pipeline_id = p.id AND r.status IN ('success', 'failed')
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT 1
    ) AS last_outcome ON true
    LEFT JOIN LATERAL (
        SELECT r.id, r.started_at, r.finished_at
        FROM runs_run r
        WHERE r.pipeline_id = p.id AND r.status = 'success'
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT 1
    ) AS last_success ON true
    LEFT JOIN LATERAL (
        SELECT r.finished_at, r.error_message
        FROM runs_run r
        WHERE r.pipeline_id = p.id AND r.status = 'failed'
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT 1
    ) AS last_failure ON true
    CROSS JOIN LATERAL (
        SELECT count(*) AS failures, min(r.started_at) AS since
        FROM runs_run r
        WHERE r.pipeline_id = p.id
          AND r.status = 'failed'
          AND r.started_at >= COALESCE(last_success.started_at, '-infinity')
          AND (r.started_at, r.id)
              > (COALESCE(last_success.started_at, '-infinity'), COALESCE(last_success.id, 0))
    ) AS streak
    CROSS JOIN LATERAL (
        SELECT
            array_agg(o.started_at ORDER BY o.pos) AS started_at,
            array_agg(o.failures ORDER BY o.pos) AS failures,
            array_agg(o.flips ORDER BY o.pos) AS flips,
            min(o.pos) FILTER (WHERE o.flips_with_older) AS newest_flip
        FROM (
            SELECT
                n.pos,
                n.started_at,
                sum((n.status = 'failed')::int) OVER upto AS failures,
                sum((n.newer_status <> n.status)::int) OVER upto AS flips,
                lead(n.status) OVER (ORDER BY n.pos) <> n.status AS flips_with_older
            FROM (
                SELECT
                    last20.status,
                    last20.started_at,
                    row_number() OVER newest AS pos,
                    lag(last20.status) OVER newest AS newer_status
                FROM (
                    SELECT r.id, r.status, r.started_at
                    FROM runs_run r
                    WHERE r.pipeline_id = p.id AND r.status IN ('success', 'failed')
                    ORDER BY r.started_at DESC, r.id DESC
                    LIMIT 20
                ) AS last20
                WINDOW newest AS (ORDER BY last20.started_at DESC, last20.id DESC)
            ) AS n
            WINDOW upto AS (ORDER BY n.pos)
        ) AS o
    ) AS recent
    ON CONFLICT (pipeline_id) DO UPDATE SET
        last_run_id = EXCLUDED.last_run_id,
        last_external_run_id = EXCLUDED.last_external_run_id,
        last_status = EXCLUDED.last_status,
        last_started_at = EXCLUDED.last_started_at,
        last_finished_at = EXCLUDED.last_finished_at,
        last_duration = EXCLUDED.last_duration,
        last_outcome_id = EXCLUDED.last_outcome_id,
        last_outcome_status = EXCLUDED.last_outcome_status,
        last_outcome_started_at = EXCLUDED.last_outcome_started_at,
        last_outcome_error = EXCLUDED.last_outcome_error,
        last_success_id = EXCLUDED.last_success_id,
        last_success_started_at = EXCLUDED.last_success_started_at,
        last_success_finished_at = EXCLUDED.last_success_finished_at,
        last_failure_finished_at = EXCLUDED.last_failure_finished_at,
        last_failure_error = EXCLUDED.last_failure_error,
        consecutive_failures = EXCLUDED.consecutive_failures,
        failing_since = EXCLUDED.failing_since,
        recent_started_at = EXCLUDED.recent_started_at,
        recent_failures = EXCLUDED.recent_failures,
        recent_flips = EXCLUDED.recent_flips,
        recent_newest_flip = EXCLUDED.recent_newest_flip,
        refreshed_at = EXCLUDED.refreshed_at,
        -- The runs changed: the what-changed windows wait for runs_refresh_change_windows.
        changes_as_of = NULL,
        changes_week_start = NULL,
        changes_fortnight_start = NULL,
        changes_successes_7d = NULL,
        changes_failures_7d = NULL,
        changes_successes_prev_7d = NULL,
        changes_failures_prev_7d = NULL,
        changes_p95_seconds_7d = NULL,
        changes_p95_seconds_prev_7d = NULL,
        changes_oldest_7d = NULL,
        changes_oldest_14d = NULL;

    -- A probe of the rows just written, never a read of the runs table.
    DELETE FROM runs_pipelinestate s
    WHERE s.pipeline_id = ANY (pipeline_ids) AND s.last_run_id IS NULL;
END
$function$;


-- Q5's figures for one pipeline as of ``as_of``: the same expressions as the view's count of
-- the runs (q05_what_changed_v2.sql explains the duration conversion), and the starts of the
-- oldest run of each window, which say until when they hold.
CREATE OR REPLACE FUNCTION runs_change_window(for_pipeline bigint, as_of timestamptz)
RETURNS TABLE (
    week_start timestamptz,
    fortnight_start timestamptz,
    successes_7d bigint,
    failures_7d bigint,
    successes_prev_7d bigint,
    failures_prev_7d bigint,
    p95_duration_seconds_7d double precision,
    p95_duration_seconds_prev_7d double precision,
    oldest_7d timestamptz,
    oldest_14d timestamptz
)
LANGUAGE sql
STABLE
AS $function$
    SELECT
        b.week_start,
        b.fortnight_start,
        count(*) FILTER (WHERE r.recent AND r.status = 'success'),
        count(*) FILTER (WHERE r.recent AND r.status = 'failed'),
        count(*) FILTER (WHERE NOT r.recent AND r.status = 'success'),
        count(*) FILTER (WHERE NOT r.recent AND r.status = 'failed'),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
            FILTER (WHERE r.recent AND r.status = 'success'),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY r.seconds)
            FILTER (WHERE NOT r.recent AND r.status = 'success'),
        min(r.started_at) FILTER (WHERE r.recent),
        min(r.started_at)
    FROM (
        SELECT
            as_of - interval '7 days' AS week_start,
            as_of - interval '14 days' AS fortnight_start
    ) AS b
    LEFT JOIN LATERAL (
        SELECT
            r.status,
            r.started_at,
            r.started_at >= b.week_start AS recent,
            CASE
                WHEN r.duration > interval '-1 day' AND r.duration < interval '1 day'
                    THEN date_part('epoch', r.duration)
                ELSE EXTRACT(EPOCH FROM r.duration)::double precision
            END AS seconds
        FROM runs_run r
        WHERE r.pipeline_id = for_pipeline
          AND r.status IN ('success', 'failed')
          AND r.started_at >= b.fortnight_start
          AND r.started_at < as_of
    ) AS r ON true
    GROUP BY b.week_start, b.fortnight_start
$function$;

-- Whether a window (a state row's changes_as_of, changes_week_start, changes_fortnight_start,
-- changes_oldest_7d and changes_oldest_14d) is still Q5's answer at instant ``at`` (see the top
-- of this file). Never NULL: no window (as_of NULL, or no state row) is not current.
CREATE OR REPLACE FUNCTION runs_change_window_is_current(
    as_of timestamptz,
    week_start timestamptz,
    fortnight_start timestamptz,
    oldest_7d timestamptz,
    oldest_14d timestamptz,
    at timestamptz
)
RETURNS boolean
LANGUAGE sql
STABLE
AS $function$
    SELECT as_of IS NOT NULL
        AND as_of <= at
        AND week_start <= at - interval '7 days'
        AND fortnight_start <= at - interval '14 days'
        AND (oldest_7d IS NULL OR oldest_7d >= at - interval '7 days')
        AND (oldest_14d IS NULL OR oldest_14d >= at - interval '14 days')
$function$;

-- Computes the windows of the given pipelines as of this statement, under the pipelines'
-- state locks. Skips pipelines without a state row (no runs: Q5 counts nothing for them
-- without a probe worth saving) and those with a run started at or after now; answers how
-- many windows it wrote.
CREATE OR REPLACE FUNCTION runs_refresh_change_windows(pipeline_ids bigint[]) RETURNS integer
LANGUAGE plpgsql
AS $function$
DECLARE
    written integer;
BEGIN
    PERFORM runs_lock_pipeline_states(pipeline_ids);
    -- A statement after the locks: its snapshot holds what the writers before it committed.
    UPDATE runs_pipelinestate AS s
    SET
        changes_as_of = statement_timestamp(),
        changes_week_start = w.week_start,
        changes_fortnight_start = w.fortnight_start,
        changes_successes_7d = w.successes_7d,
        changes_failures_7d = w.failures_7d,
        changes_successes_prev_7d = w.successes_prev_7d,
        changes_failures_prev_7d = w.failures_prev_7d,
        changes_p95_seconds_7d = w.p95_duration_seconds_7d,
        changes_p95_seconds_prev_7d = w.p95_duration_seconds_prev_7d,
        changes_oldest_7d = w.oldest_7d,
        changes_oldest_14d = w.oldest_14d
    FROM (
        SELECT t.pipeline_id, c.*
        FROM runs_pipelinestate t
        CROSS JOIN LATERAL runs_change_window(t.pipeline_id, statement_timestamp()) AS c
        WHERE t.pipeline_id = ANY (pipeline_ids)
          AND (t.last_outcome_started_at IS NULL
               OR t.last_outcome_started_at < statement_timestamp())
    ) AS w
    WHERE s.pipeline_id = w.pipeline_id;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$function$;

-- TRUNCATE leaves every pipeline without runs: no state rows (and so no windows).
CREATE OR REPLACE FUNCTION runs_run_truncated_state() RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    LOCK TABLE runs_pipelinestate IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM runs_pipelinestate;
    RETURN NULL;
END
$function$;

CREATE TRIGGER runs_run_state_after_truncate
    AFTER TRUNCATE ON runs_run
    FOR EACH STATEMENT EXECUTE FUNCTION runs_run_truncated_state();
