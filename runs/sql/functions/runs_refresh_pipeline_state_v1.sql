-- runs_pipelinestate kept by the database: after every statement that inserts, updates or
-- deletes runs, the rows of the pipelines it touched are recomputed from the runs themselves
-- (index lookups bounded per pipeline), in the same transaction. Recomputing instead of
-- adjusting makes the row right whatever the order events arrive in, and for corrections
-- and deletions alike.
--
-- Two transactions writing runs of one pipeline take turns: each first locks the pipeline's
-- state row (created when missing), pipelines in id order so that two writers never wait for
-- each other in a circle, and reads the runs in the next statement, whose snapshot then
-- includes what the other one committed. Row locks, not advisory locks: a bulk load touching
-- every pipeline must not fill the server's lock table.
-- Planning the recomputation costs ten times running it for one pipeline: each connection
-- plans it once (generic plan) and reuses the plan, whatever the number of pipelines.
CREATE FUNCTION runs_refresh_pipeline_state(pipeline_ids bigint[]) RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $function$
BEGIN
    INSERT INTO runs_pipelinestate AS s (pipeline_id, consecutive_failures, refreshed_at)
    SELECT DISTINCT t.id, 0, statement_timestamp()
    FROM unnest(pipeline_ids) AS t(id)
    ORDER BY t.id
    ON CONFLICT (pipeline_id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at;

    UPDATE runs_pipelinestate AS s
    SET last_run_id = last_run.id,
        last_external_run_id = last_run.external_run_id,
        last_status = last_run.status,
        last_started_at = last_run.started_at,
        last_finished_at = last_run.finished_at,
        last_duration = last_run.duration,
        last_outcome_id = last_outcome.id,
        last_outcome_status = last_outcome.status,
        last_outcome_started_at = last_outcome.started_at,
        last_outcome_error = last_outcome.error_message,
        last_success_id = last_success.id,
        last_success_started_at = last_success.started_at,
        last_success_finished_at = last_success.finished_at,
        last_failure_finished_at = last_failure.finished_at,
        last_failure_error = last_failure.error_message,
        consecutive_failures = streak.failures,
        failing_since = streak.since,
        recent_started_at = recent.started_at,
        recent_failures = recent.failures,
        recent_flips = recent.flips,
        recent_newest_flip = recent.newest_flip
    FROM (SELECT DISTINCT t.id FROM unnest(pipeline_ids) AS t(id)) AS p
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
    WHERE s.pipeline_id = p.id;

    DELETE FROM runs_pipelinestate s
    WHERE s.pipeline_id = ANY (pipeline_ids) AND s.last_run_id IS NULL;
END
$function$;

