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


