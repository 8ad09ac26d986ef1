-- Q6 triage, version 3: the same rows and columns as version 2, the alert columns read from
-- the alert state tables (alerts_alertstate: one open row per rule and pipeline while a rule
-- fires) instead of the rule's former JSON firing state, and two more columns:
--   is_covered: an enabled alert rule for the pipeline, or a client-wide one of its client;
--   firing_rules: enabled covering rules with an open alert for this pipeline;
--   acknowledged_rules: of those, the ones somebody acknowledged;
--   silenced_rules: of those, the ones a silence covers now (of the rule, of the pipeline,
--     or of the rule on the pipeline): they still show, but notify nobody.
-- Streak definitions as version 2: runs in progress, canceled and skipped runs neither clear
-- nor extend a failure streak.
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
    rules.firing_rules,
    rules.acknowledged_rules,
    rules.silenced_rules
FROM runs_pipelinestate s
JOIN inventory_pipeline p ON p.id = s.pipeline_id
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT
        count(*) AS covering_rules,
        count(f.id) AS firing_rules,
        count(f.acknowledged_at) AS acknowledged_rules,
        count(f.id) FILTER (
            WHERE EXISTS (
                SELECT 1
                FROM alerts_silence si
                WHERE si.starts_at <= now() AND si.ends_at > now()
                  AND (si.rule_id IS NULL OR si.rule_id = a.id)
                  AND (si.pipeline_id IS NULL OR si.pipeline_id = p.id)
            )
        ) AS silenced_rules
    FROM alerts_alertrule a
    LEFT JOIN alerts_alertstate f
      ON f.rule_id = a.id AND f.pipeline_id = p.id AND f.resolved_at IS NULL
    WHERE a.client_id = p.client_id
      AND a.is_enabled
      AND (a.pipeline_id IS NULL OR a.pipeline_id = p.id)
) AS rules
WHERE p.is_active
  AND c.is_active
  AND s.last_outcome_status = 'failed';
