-- Q3 latest status by client: the health of its active pipelines (counted from Q2, so both
-- views agree) and its failure rate over the last 7 days against the 7 days before.
CREATE VIEW reporting.q03_client_health AS
SELECT
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    c.is_active,
    COALESCE(h.pipelines, 0) AS pipelines,
    COALESCE(h.healthy, 0) AS healthy,
    COALESCE(h.failing, 0) AS failing,
    COALESCE(h.running, 0) AS running,
    COALESCE(h.stale, 0) AS stale,
    COALESCE(h.never_run, 0) AS never_run,
    w.outcome_runs_7d,
    w.failures_7d,
    w.failures_7d::double precision / NULLIF(w.outcome_runs_7d, 0) AS failure_rate_7d,
    w.outcome_runs_prev_7d,
    w.failures_prev_7d,
    w.failures_prev_7d::double precision / NULLIF(w.outcome_runs_prev_7d, 0) AS failure_rate_prev_7d,
    w.failures_7d::double precision / NULLIF(w.outcome_runs_7d, 0)
        - w.failures_prev_7d::double precision / NULLIF(w.outcome_runs_prev_7d, 0)
        AS failure_rate_change
FROM inventory_client c
LEFT JOIN LATERAL (
    SELECT
        count(*) AS pipelines,
        count(*) FILTER (WHERE s.health = 'healthy') AS healthy,
        count(*) FILTER (WHERE s.health = 'failing') AS failing,
        count(*) FILTER (WHERE s.health = 'running') AS running,
        count(*) FILTER (WHERE s.health = 'stale') AS stale,
        count(*) FILTER (WHERE s.health = 'never_run') AS never_run
    FROM reporting.q02_pipeline_latest_status s
    WHERE s.client_id = c.id AND s.is_active
) AS h ON true
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE r.started_at >= statement_timestamp() - interval '7 days') AS outcome_runs_7d,
        count(*) FILTER (
            WHERE r.started_at >= statement_timestamp() - interval '7 days' AND r.status = 'failed'
        ) AS failures_7d,
        count(*) FILTER (WHERE r.started_at < statement_timestamp() - interval '7 days') AS outcome_runs_prev_7d,
        count(*) FILTER (
            WHERE r.started_at < statement_timestamp() - interval '7 days' AND r.status = 'failed'
        ) AS failures_prev_7d
    FROM inventory_pipeline p
    JOIN runs_run r ON r.pipeline_id = p.id
    WHERE p.client_id = c.id
      AND r.status IN ('success', 'failed')
      AND r.started_at >= statement_timestamp() - interval '14 days'
      AND r.started_at < statement_timestamp()
) AS w;
