-- Q11 incidents per pipeline, version 2: the same rows and values as version 1
-- (runs/sql/views/q11_incident_pipelines.sql describes how failures group into incidents), for
-- less work per read. The recent failed runs are read through the index run_failed_recent_incl,
-- which holds every column the grouping needs (start, id, pipeline, signature): an index-only
-- scan, with no heap page visited once vacuum has marked them all-visible. The error message
-- is no longer carried through the grouping: each row reads its last failure's message by run
-- id at the end, and a query that does not select last_error (reporting.q11_incidents) reads
-- no message at all.
CREATE OR REPLACE VIEW reporting.q11_incident_pipelines AS
WITH recent AS (
    SELECT r.id AS run_id, r.pipeline_id, r.failure_signature, r.started_at,
        p.platform, p.client_id
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.status = 'failed'
      AND r.started_at >= statement_timestamp() - interval '7 days'
      AND p.is_active
      AND c.is_active
), by_signature AS (
    SELECT m.*,
        sum(m.starts_group) OVER (
            PARTITION BY m.failure_signature ORDER BY m.started_at, m.run_id
        ) AS group_no
    FROM (
        SELECT x.*,
            CASE WHEN x.started_at - lag(x.started_at) OVER (
                PARTITION BY x.failure_signature ORDER BY x.started_at, x.run_id
            ) <= interval '2 hours' THEN 0 ELSE 1 END AS starts_group
        FROM recent x
        WHERE x.failure_signature IS NOT NULL
    ) AS m
), signature_groups AS (
    SELECT s.failure_signature, s.group_no,
        concat_ws(':', 'signature', s.failure_signature,
            to_char(min(s.started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            AS incident_key
    FROM by_signature s
    GROUP BY s.failure_signature, s.group_no
    HAVING count(DISTINCT s.pipeline_id) >= 2
), signature_runs AS (
    SELECT s.run_id, s.pipeline_id, s.started_at, s.failure_signature,
        s.platform, s.client_id, g.incident_key
    FROM by_signature s
    JOIN signature_groups g USING (failure_signature, group_no)
), by_platform AS (
    SELECT m.*,
        sum(m.starts_group) OVER (
            PARTITION BY m.platform ORDER BY m.started_at, m.run_id
        ) AS group_no
    FROM (
        SELECT x.*,
            CASE WHEN x.started_at - lag(x.started_at) OVER (
                PARTITION BY x.platform ORDER BY x.started_at, x.run_id
            ) <= interval '2 hours' THEN 0 ELSE 1 END AS starts_group
        FROM recent x
        WHERE NOT EXISTS (SELECT 1 FROM signature_runs s WHERE s.run_id = x.run_id)
    ) AS m
), platform_groups AS (
    SELECT b.platform, b.group_no,
        concat_ws(':', 'platform', b.platform,
            to_char(min(b.started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            AS incident_key
    FROM by_platform b
    GROUP BY b.platform, b.group_no
    HAVING count(DISTINCT b.pipeline_id) >= 5
), incident_runs AS (
    SELECT s.incident_key, 'signature'::text AS kind, s.run_id, s.pipeline_id, s.started_at,
        s.failure_signature, s.platform, s.client_id
    FROM signature_runs s
    UNION ALL
    SELECT g.incident_key, 'platform'::text, b.run_id, b.pipeline_id, b.started_at,
        b.failure_signature, b.platform, b.client_id
    FROM by_platform b
    JOIN platform_groups g USING (platform, group_no)
), per_pipeline AS (
    SELECT i.incident_key, min(i.kind) AS kind, i.pipeline_id,
        min(i.platform) AS platform, min(i.client_id) AS client_id,
        count(*) AS failures,
        min(i.started_at) AS first_failed_at,
        max(i.started_at) AS last_failed_at,
        (array_agg(i.run_id ORDER BY i.started_at DESC, i.run_id DESC))[1] AS last_run_id,
        (array_agg(i.failure_signature ORDER BY i.started_at DESC, i.run_id DESC))[1]
            AS last_signature
    FROM incident_runs i
    GROUP BY i.incident_key, i.pipeline_id
)
SELECT
    concat_ws('/', g.incident_key, g.pipeline_id) AS row_key,
    g.incident_key,
    g.kind,
    g.last_signature::text AS failure_signature,
    g.pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    g.client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    g.platform::text AS platform,
    p.owner::text AS owner,
    g.failures,
    g.first_failed_at,
    g.last_failed_at,
    g.last_run_id,
    (SELECT e.error_message FROM runs_run e WHERE e.id = g.last_run_id)::text AS last_error,
    CASE WHEN s.last_success_started_at > g.last_failed_at
        THEN s.last_success_started_at END AS recovered_at,
    s.last_success_started_at IS NULL OR s.last_success_started_at <= g.last_failed_at
        AS is_open
FROM per_pipeline g
-- LEFT JOINs on primary keys (every row has both): a query that reads none of their columns
-- (reporting.q11_incidents) skips them.
LEFT JOIN inventory_pipeline p ON p.id = g.pipeline_id
LEFT JOIN inventory_client c ON c.id = g.client_id
LEFT JOIN runs_pipelinestate s ON s.pipeline_id = g.pipeline_id;
