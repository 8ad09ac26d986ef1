-- Q7 flaky ranking: per active pipeline, its last 20 success-or-failed runs started within
-- 30 days (n, read newest first from run_pipeline_outcome_incl, so at most 20 rows per pipeline).
--   flips: adjacent runs (ordered by started_at, id) whose outcome differs;
--   flip_rate = flips / (n - 1), NULL below 10 runs: too little history is not a rate of 0;
--   last_flip_at: start of the later run of the newest flip;
--   flaky when n >= 10, flips >= 3 and flip_rate >= 0.25.
-- Rank with ORDER BY flip_rate DESC NULLS LAST, failures DESC (docs/dashboards.md).
CREATE VIEW reporting.q07_flaky_ranking AS
SELECT
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    w.n AS window_runs,
    w.failures,
    w.flips,
    CASE WHEN w.n >= 10 THEN w.flips::double precision / (w.n - 1) END AS flip_rate,
    w.failures::double precision / NULLIF(w.n, 0) AS failure_rate,
    w.window_start,
    w.last_flip_at,
    (w.n >= 10) AS has_enough_history,
    (w.n >= 10 AND w.flips >= 3 AND w.flips::double precision / (w.n - 1) >= 0.25) AS is_flaky,
    CASE
        WHEN w.n < 10 THEN 'insufficient history'
        WHEN w.flips >= 3 AND w.flips::double precision / (w.n - 1) >= 0.25 THEN 'flaky'
        ELSE 'stable'
    END AS verdict
FROM inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT
        count(*) AS n,
        count(*) FILTER (WHERE f.status = 'failed') AS failures,
        count(*) FILTER (WHERE f.prev_status IS NOT NULL AND f.prev_status <> f.status) AS flips,
        min(f.started_at) AS window_start,
        max(f.started_at) FILTER (
            WHERE f.prev_status IS NOT NULL AND f.prev_status <> f.status
        ) AS last_flip_at
    FROM (
        SELECT
            last20.status,
            last20.started_at,
            lag(last20.status) OVER (ORDER BY last20.started_at, last20.id) AS prev_status
        FROM (
            SELECT r.id, r.status, r.started_at
            FROM runs_run r
            WHERE r.pipeline_id = p.id
              AND r.status IN ('success', 'failed')
              AND r.started_at >= statement_timestamp() - interval '30 days'
            ORDER BY r.started_at DESC, r.id DESC
            LIMIT 20
        ) AS last20
    ) AS f
) AS w
WHERE p.is_active AND c.is_active;
