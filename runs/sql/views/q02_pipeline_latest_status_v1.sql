-- Q2 latest status by pipeline: one row per pipeline (active or not), each figure found by
-- an index lookup (LIMIT 1 on run_pipeline_started, run_pipeline_outcome_incl and
-- run_pipeline_failed), so the cost follows the number of pipelines, never the number of
-- runs stored.
-- health, with this precedence: never_run (no run at all), failing (the latest success-or-
-- failed run failed), stale (a freshness expectation and no success within it), running (the
-- latest run is queued or running), healthy.
CREATE VIEW reporting.q02_pipeline_latest_status AS
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
    last_run.id AS last_run_id,
    last_run.external_run_id::text AS last_external_run_id,
    last_run.status::text AS last_status,
    last_run.started_at AS last_started_at,
    last_run.finished_at AS last_finished_at,
    EXTRACT(EPOCH FROM last_run.duration)::double precision AS last_duration_seconds,
    last_outcome.status::text AS last_outcome_status,
    last_success.finished_at AS last_success_at,
    last_failure.finished_at AS last_failure_at,
    last_failure.error_message AS last_error,
    (last_run.id IS NULL) AS never_run,
    (
        p.freshness_minutes IS NOT NULL
        AND COALESCE(last_success.finished_at, p.created_at)
            + p.freshness_minutes * interval '1 minute' < statement_timestamp()
    ) AS is_stale,
    CASE
        WHEN last_run.id IS NULL THEN 'never_run'
        WHEN last_outcome.status = 'failed' THEN 'failing'
        WHEN p.freshness_minutes IS NOT NULL
             AND COALESCE(last_success.finished_at, p.created_at)
                 + p.freshness_minutes * interval '1 minute' < statement_timestamp() THEN 'stale'
        WHEN last_run.status IN ('queued', 'running') THEN 'running'
        ELSE 'healthy'
    END AS health
FROM inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
LEFT JOIN LATERAL (
    SELECT r.id, r.external_run_id, r.status, r.started_at, r.finished_at, r.duration
    FROM runs_run r
    WHERE r.pipeline_id = p.id
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last_run ON true
LEFT JOIN LATERAL (
    SELECT r.status
    FROM runs_run r
    WHERE r.pipeline_id = p.id AND r.status IN ('success', 'failed')
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last_outcome ON true
LEFT JOIN LATERAL (
    SELECT r.finished_at
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
) AS last_failure ON true;
