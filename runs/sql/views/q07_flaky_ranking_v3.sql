-- Q7 flaky ranking, version 3: the same rows and values as version 2 (runs/sql/
-- q07_flaky_ranking_v2.sql describes the view), for less work per pipeline. Per active
-- pipeline, its last 20 success-or-failed runs started within 30 days (n): the newest-first
-- prefix, within 30 days, of the last 20 such runs that runs_pipelinestate keeps per pipeline
-- with running totals of failures and flips, so the figures for the n of them are read at
-- position n.
--   flips: adjacent runs (ordered by started_at, id) whose outcome differs;
--   flip_rate = flips / (n - 1), NULL below 10 runs: too little history is not a rate of 0;
--   last_flip_at: start of the later run of the newest flip;
--   flaky when n >= 10, flips >= 3 and flip rate >= 0.25.
-- Rank with ORDER BY flip_rate DESC NULLS LAST, failures DESC (docs/dashboards.md).
--
-- What changed from version 2: when the oldest kept run is older than 30 days (about half the
-- pipelines at one run a day), version 2 counted the runs within 30 days with a subquery over
-- unnest(), an executor subplan per pipeline (a third of the view's time at 10,000
-- pipelines). The array is newest first, so n is the last position still within 30 days: a
-- CASE reads the positions from the oldest down and stops at the first one inside. The
-- 30-day bound is computed once per statement (a subquery that OFFSET 0 keeps from being
-- inlined), not once per comparison.
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
FROM (SELECT statement_timestamp() - interval '30 days' AS month_start OFFSET 0) AS b
CROSS JOIN inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
LEFT JOIN runs_pipelinestate s ON s.pipeline_id = p.id
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN s.recent_started_at IS NULL THEN 0
        -- The oldest of them is within 30 days (the usual case): all of them are.
        WHEN s.recent_started_at[cardinality(s.recent_started_at)] >= b.month_start
            THEN cardinality(s.recent_started_at)
        -- Otherwise the oldest is not, and at most 19 are: the last position within 30 days.
        -- Positions past the end of a shorter array read NULL, which no WHEN takes.
        WHEN s.recent_started_at[19] >= b.month_start THEN 19
        WHEN s.recent_started_at[18] >= b.month_start THEN 18
        WHEN s.recent_started_at[17] >= b.month_start THEN 17
        WHEN s.recent_started_at[16] >= b.month_start THEN 16
        WHEN s.recent_started_at[15] >= b.month_start THEN 15
        WHEN s.recent_started_at[14] >= b.month_start THEN 14
        WHEN s.recent_started_at[13] >= b.month_start THEN 13
        WHEN s.recent_started_at[12] >= b.month_start THEN 12
        WHEN s.recent_started_at[11] >= b.month_start THEN 11
        WHEN s.recent_started_at[10] >= b.month_start THEN 10
        WHEN s.recent_started_at[9] >= b.month_start THEN 9
        WHEN s.recent_started_at[8] >= b.month_start THEN 8
        WHEN s.recent_started_at[7] >= b.month_start THEN 7
        WHEN s.recent_started_at[6] >= b.month_start THEN 6
        WHEN s.recent_started_at[5] >= b.month_start THEN 5
        WHEN s.recent_started_at[4] >= b.month_start THEN 4
        WHEN s.recent_started_at[3] >= b.month_start THEN 3
        WHEN s.recent_started_at[2] >= b.month_start THEN 2
        WHEN s.recent_started_at[1] >= b.month_start THEN 1
        ELSE 0
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
