-- Q11 error signatures, one row per failure signature with a failed run started in the last
-- 30 days (runs of active pipelines of active clients), ranked by the pages by failures_7d
-- then failures_30d:
--   failures_7d / failures_30d: failed runs started in the last 7 / 30 days;
--   pipelines_7d / pipelines_30d, clients_30d: distinct pipelines and clients among them;
--   first_seen: start of the signature's first failed run ever stored (any pipeline);
--   last_seen: start of its latest one;
--   example_run_id, example_error: that latest failed run and its message.
CREATE VIEW reporting.q11_error_signatures AS
WITH recent AS (
    SELECT r.failure_signature, r.pipeline_id, p.client_id,
        r.started_at >= statement_timestamp() - interval '7 days' AS in_7d
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.status = 'failed'
      AND r.failure_signature IS NOT NULL
      AND r.started_at >= statement_timestamp() - interval '30 days'
      AND p.is_active
      AND c.is_active
), counted AS (
    SELECT x.failure_signature,
        count(*) FILTER (WHERE x.in_7d) AS failures_7d,
        count(*) AS failures_30d,
        count(DISTINCT x.pipeline_id) FILTER (WHERE x.in_7d) AS pipelines_7d,
        count(DISTINCT x.pipeline_id) AS pipelines_30d,
        count(DISTINCT x.client_id) AS clients_30d
    FROM recent x
    GROUP BY x.failure_signature
)
SELECT
    k.failure_signature::text AS failure_signature,
    k.failures_7d,
    k.failures_30d,
    k.pipelines_7d,
    k.pipelines_30d,
    k.clients_30d,
    first_run.started_at AS first_seen,
    last_run.started_at AS last_seen,
    last_run.id AS example_run_id,
    last_run.error_message::text AS example_error
FROM counted k
CROSS JOIN LATERAL (
    SELECT r.started_at
    FROM runs_run r
    WHERE r.status = 'failed' AND r.failure_signature = k.failure_signature
    ORDER BY r.started_at
    LIMIT 1
) AS first_run
CROSS JOIN LATERAL (
    SELECT r.id, r.started_at, r.error_message
    FROM runs_run r
    JOIN inventory_pipeline p ON p.id = r.pipeline_id
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.status = 'failed' AND r.failure_signature = k.failure_signature
      AND p.is_active AND c.is_active
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) AS last_run;
