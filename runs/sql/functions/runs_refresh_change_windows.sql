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

