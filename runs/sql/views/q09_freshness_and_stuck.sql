-- Q9 freshness and stuck runs, one row per problem (kind):
--   'stale': an active pipeline with a freshness expectation whose last success (its
--     finished_at; the pipeline's creation if it never succeeded) is older than that
--     expectation. late_since = last success + expectation.
--   'stuck': a run still running longer than twice its pipeline's usual duration: the p95
--     duration of the pipeline's successful runs started in the last 30 days (at least 5 of
--     them; with fewer there is no "usual" to compare with). late_since = start + 2 × p95.
-- late_by_minutes = whole minutes from late_since to now.
CREATE VIEW reporting.q09_freshness_and_stuck AS
SELECT
    concat_ws('/', 'stale', s.pipeline_id) AS row_key,
    'stale'::text AS kind,
    s.pipeline_id,
    s.pipeline_slug,
    s.pipeline_name,
    s.client_id,
    s.client_slug,
    s.client_name,
    s.platform,
    s.owner,
    NULL::bigint AS run_id,
    NULL::text AS external_run_id,
    NULL::timestamptz AS started_at,
    s.freshness_minutes::double precision AS expected_minutes,
    s.last_success_at,
    late.since AS late_since,
    floor(EXTRACT(EPOCH FROM statement_timestamp() - late.since) / 60)::bigint AS late_by_minutes
FROM reporting.q02_pipeline_latest_status s
JOIN inventory_pipeline p ON p.id = s.pipeline_id
CROSS JOIN LATERAL (
    SELECT COALESCE(s.last_success_at, p.created_at)
        + s.freshness_minutes * interval '1 minute' AS since
) AS late
-- freshness_minutes first: it narrows the pipelines before Q2's per-pipeline lookups run.
WHERE s.freshness_minutes IS NOT NULL AND s.is_active AND s.is_stale
UNION ALL
SELECT
    concat_ws('/', 'stuck', p.id, r.id) AS row_key,
    'stuck'::text AS kind,
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    r.id AS run_id,
    r.external_run_id::text AS external_run_id,
    r.started_at,
    usual.p95_seconds / 60 AS expected_minutes,
    NULL::timestamptz AS last_success_at,
    r.started_at + 2 * usual.p95_seconds * interval '1 second' AS late_since,
    floor(
        EXTRACT(EPOCH FROM statement_timestamp() - (r.started_at + 2 * usual.p95_seconds * interval '1 second')) / 60
    )::bigint AS late_by_minutes
FROM runs_run r
JOIN inventory_pipeline p ON p.id = r.pipeline_id
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT
        count(*) AS successes,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM h.duration))
            AS p95_seconds
    FROM runs_run h
    WHERE h.pipeline_id = p.id
      AND h.status = 'success'
      AND h.started_at >= statement_timestamp() - interval '30 days'
) AS usual
WHERE r.status = 'running'
  AND p.is_active
  AND c.is_active
  AND usual.successes >= 5
  AND r.started_at + 2 * usual.p95_seconds * interval '1 second' < statement_timestamp();
