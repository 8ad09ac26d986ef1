-- Q11 incidents, version 2: the same rows and values as version 1
-- (runs/sql/views/q11_incidents.sql describes the columns). The example error is read by the
-- example run's id once per incident, instead of aggregating every pipeline's last message.
CREATE OR REPLACE VIEW reporting.q11_incidents AS
SELECT
    g.*,
    (SELECT e.error_message FROM runs_run e WHERE e.id = g.example_run_id)::text AS example_error
FROM (
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
            AS example_run_id
    FROM reporting.q11_incident_pipelines i
    GROUP BY i.incident_key
) AS g;
