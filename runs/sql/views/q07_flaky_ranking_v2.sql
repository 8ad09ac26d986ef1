-- Q7 flaky ranking: per active pipeline, its last 20 success-or-failed runs started within
-- 30 days (n). Those are the newest-first prefix, within 30 days, of the last 20 such runs
-- that runs_pipelinestate keeps per pipeline (triggers on runs_run,
-- runs/sql/pipeline_state_v1.sql) with running totals of failures and flips, so the figures
-- for the n of them are read at position n instead of from the runs.
--   flips: adjacent runs (ordered by started_at, id) whose outcome differs;
--   flip_rate = flips / (n - 1), NULL below 10 runs: too little history is not a rate of 0;
--   last_flip_at: start of the later run of the newest flip;
--   flaky when n >= 10, flips >= 3 and flip_rate >= 0.25.
-- Rank with ORDER BY flip_rate DESC NULLS LAST, failures DESC (docs/dashboards.md).
CREATE OR REPLACE VIEW reporting.q07_flaky_ranking AS
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
LEFT JOIN runs_pipelinestate s ON s.pipeline_id = p.id
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN s.recent_started_at IS NULL THEN 0
        -- The oldest of them is within 30 days (the usual case): all of them are.
        WHEN s.recent_started_at[cardinality(s.recent_started_at)]
             >= statement_timestamp() - interval '30 days'
            THEN cardinality(s.recent_started_at)
        ELSE (
            SELECT count(*)
            FROM unnest(s.recent_started_at) AS t(started_at)
            WHERE t.started_at >= statement_timestamp() - interval '30 days'
        )
    END::bigint AS n
    -- Computed once per pipeline, not once per column that reads it.
    OFFSET 0
) AS windowed
CROSS JOIN LATERAL (
    SELECT
        windowed.n,
        COALESCE(s.recent_failures[windowed.n], 0)::bigint AS failures,
        COALESCE(s.recent_flips[windowed.n], 0)::bigint AS flips,
        s.recent_started_at[windowed.n] AS window_start,
        CASE WHEN s.recent_newest_flip < windowed.n
            THEN s.recent_started_at[s.recent_newest_flip]
        END AS last_flip_at
) AS w
WHERE p.is_active AND c.is_active;
