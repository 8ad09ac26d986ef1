-- Q11 incidents, one row per incident (reporting.q11_incident_pipelines says how failures
-- group). incident_key: stable, 'kind:signature-or-platform:first failure (UTC)'.
--   failure_signature: the shared signature ('signature' incidents; NULL for 'platform');
--   platform: the platform of a 'platform' incident; platforms: every pipeline's platform,
--     comma-separated in alphabetical order;
--   pipelines, clients, failures: how many in the incident; open_pipelines: pipelines that
--     have not succeeded since their last failure in it;
--   first_seen, last_seen: start of its first and last failure;
--   state: 'open' while any pipeline has not recovered, else 'resolved';
--   example_run_id, example_error: its latest failure and that run's message.
CREATE VIEW reporting.q11_incidents AS
SELECT
    i.incident_key,
    min(i.kind) AS kind,
    min(i.failure_signature) FILTER (WHERE i.kind = 'signature') AS failure_signature,
    CASE WHEN min(i.kind) = 'platform' THEN min(i.platform) END AS platform,
    string_agg(DISTINCT i.platform, ', ' ORDER BY i.platform) AS platforms,
    count(*) AS pipelines,
    count(DISTINCT i.client_id) AS clients,
    sum(i.failures)::bigint AS failures,
    count(*) FILTER (WHERE i.is_open) AS open_pipelines,
    min(i.first_failed_at) AS first_seen,
    max(i.last_failed_at) AS last_seen,
    CASE WHEN bool_or(i.is_open) THEN 'open' ELSE 'resolved' END AS state,
    (array_agg(i.last_run_id ORDER BY i.last_failed_at DESC, i.last_run_id DESC))[1]
        AS example_run_id,
    (array_agg(i.last_error ORDER BY i.last_failed_at DESC, i.last_run_id DESC))[1]
        AS example_error
FROM reporting.q11_incident_pipelines i
GROUP BY i.incident_key;
