-- Q6 triage: active pipelines whose latest success-or-failed run failed, read from
-- runs_pipelinestate (kept by triggers on runs_run, runs/sql/pipeline_state_v1.sql) instead
-- of five index lookups per pipeline. Same definitions as version 1: runs in progress,
-- canceled and skipped runs neither clear nor extend a failure streak;
--   consecutive_failures: failed runs after the last success (all of them if none);
--   failing_since: start of the first of those failures;
--   is_covered: an enabled alert rule for the pipeline, or a client-wide one of its client;
--   firing_rules: enabled covering rules whose firing state holds this pipeline's id.
CREATE OR REPLACE VIEW reporting.q06_triage AS
SELECT
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    s.consecutive_failures,
    s.failing_since,
    s.last_outcome_id AS last_run_id,
    s.last_outcome_started_at AS last_failure_at,
    s.last_outcome_error AS last_error,
    s.last_success_finished_at AS last_success_at,
    rules.covering_rules > 0 AS is_covered,
    rules.firing_rules
FROM runs_pipelinestate s
JOIN inventory_pipeline p ON p.id = s.pipeline_id
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT
        count(*) AS covering_rules,
        count(*) FILTER (WHERE a.firing ? p.id::text) AS firing_rules
    FROM alerts_alertrule a
    WHERE a.client_id = p.client_id
      AND a.is_enabled
      AND (a.pipeline_id IS NULL OR a.pipeline_id = p.id)
) AS rules
WHERE p.is_active
  AND c.is_active
  AND s.last_outcome_status = 'failed';
