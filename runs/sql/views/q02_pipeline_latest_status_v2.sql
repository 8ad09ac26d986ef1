-- Q2 latest status by pipeline: one row per pipeline (active or not). The figures come from
-- the pipeline's row in runs_pipelinestate, which triggers on runs_run keep equal to the
-- index lookups of version 1 (runs/sql/pipeline_state_v1.sql): one row read per pipeline,
-- whatever the number of runs stored. No row there means the pipeline never ran.
-- health, with this precedence: never_run (no run at all), failing (the latest success-or-
-- failed run failed), stale (a freshness expectation and no success within it), running (the
-- latest run is queued or running), healthy.
CREATE OR REPLACE VIEW reporting.q02_pipeline_latest_status AS
SELECT
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    (p.is_active AND c.is_active) AS is_active,
    p.freshness_minutes,
    s.last_run_id,
    s.last_external_run_id::text AS last_external_run_id,
    s.last_status::text AS last_status,
    s.last_started_at,
    s.last_finished_at,
    EXTRACT(EPOCH FROM s.last_duration)::double precision AS last_duration_seconds,
    s.last_outcome_status::text AS last_outcome_status,
    s.last_success_finished_at AS last_success_at,
    s.last_failure_finished_at AS last_failure_at,
    s.last_failure_error AS last_error,
    (s.last_run_id IS NULL) AS never_run,
    (
        p.freshness_minutes IS NOT NULL
        AND COALESCE(s.last_success_finished_at, p.created_at)
            + p.freshness_minutes * interval '1 minute' < statement_timestamp()
    ) AS is_stale,
    CASE
        WHEN s.last_run_id IS NULL THEN 'never_run'
        WHEN s.last_outcome_status = 'failed' THEN 'failing'
        WHEN p.freshness_minutes IS NOT NULL
             AND COALESCE(s.last_success_finished_at, p.created_at)
                 + p.freshness_minutes * interval '1 minute' < statement_timestamp() THEN 'stale'
        WHEN s.last_status IN ('queued', 'running') THEN 'running'
        ELSE 'healthy'
    END AS health
FROM inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
LEFT JOIN runs_pipelinestate s ON s.pipeline_id = p.id;
