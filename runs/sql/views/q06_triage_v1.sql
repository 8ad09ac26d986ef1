-- Q6 triage: active pipelines whose latest success-or-failed run failed. Runs in progress,
-- canceled and skipped runs neither clear nor extend a failure streak, so every lookup reads
-- the partial indexes run_pipeline_outcome_incl and run_pipeline_failed.
--   consecutive_failures: failed runs after the last success (all of them if none);
--   failing_since: start of the first of those failures;
--   is_covered: an enabled alert rule for the pipeline, or a client-wide one of its client;
--   firing_rules: enabled covering rules whose firing state holds this pipeline's id.
CREATE VIEW reporting.q06_triage AS
SELECT
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    streak.consecutive_failures,
    streak.failing_since,
    last_outcome.id AS last_run_id,
    last_outcome.started_at AS last_failure_at,
    last_outcome.error_message AS last_error,
    last_success.finished_at AS last_success_at,
    rules.covering_rules > 0 AS is_covered,
    rules.firing_rules
FROM inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.error_message
    FROM runs_run r
    WHERE r.pipeline_id = p.id AND r.status IN ('success', 'failed')
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last_outcome
LEFT JOIN LATERAL (
    SELECT r.id, r.started_at, r.finished_at
    FROM runs_run r
    WHERE r.pipeline_id = p.id AND r.status = 'success'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last_success ON true
CROSS JOIN LATERAL (
    SELECT count(*) AS consecutive_failures, min(r.started_at) AS failing_since
    FROM runs_run r
    WHERE r.pipeline_id = p.id
      AND r.status = 'failed'
      -- Never succeeded: every failure counts (-infinity keeps one indexable condition).
      AND r.started_at >= COALESCE(last_success.started_at, '-infinity')
      AND (r.started_at, r.id)
          > (COALESCE(last_success.started_at, '-infinity'), COALESCE(last_success.id, 0))
) AS streak
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
  AND last_outcome.status = 'failed';
