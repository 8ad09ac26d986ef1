-- Q10 governance per active client, version 2: the same rows and columns as version 1 (how
-- many of its active pipelines have an owner, documentation and at least one enabled covering
-- alert rule (from q10_governance), as counts and percentages (NULL for a client without
-- pipelines), and how many of its enabled rules fire now, for any of its pipelines), a rule
-- firing when it has an open alert (alerts_alertstate) instead of a non-empty JSON state.
CREATE OR REPLACE VIEW reporting.q10_governance_by_client AS
SELECT
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    g.pipelines,
    g.with_owner,
    g.with_documentation,
    g.covered,
    g.pipelines - g.covered AS uncovered,
    round(100.0 * g.with_owner / NULLIF(g.pipelines, 0), 1) AS owner_pct,
    round(100.0 * g.with_documentation / NULLIF(g.pipelines, 0), 1) AS documentation_pct,
    round(100.0 * g.covered / NULLIF(g.pipelines, 0), 1) AS coverage_pct,
    rules.enabled_rules,
    rules.firing_rules
FROM inventory_client c
CROSS JOIN LATERAL (
    SELECT
        count(*) AS pipelines,
        count(*) FILTER (WHERE q.has_owner) AS with_owner,
        count(*) FILTER (WHERE q.has_documentation) AS with_documentation,
        count(*) FILTER (WHERE q.is_covered) AS covered
    FROM reporting.q10_governance q
    WHERE q.client_id = c.id
) AS g
CROSS JOIN LATERAL (
    SELECT
        count(*) AS enabled_rules,
        count(*) FILTER (
            WHERE EXISTS (
                SELECT 1 FROM alerts_alertstate f
                WHERE f.rule_id = a.id AND f.resolved_at IS NULL
            )
        ) AS firing_rules
    FROM alerts_alertrule a
    WHERE a.client_id = c.id AND a.is_enabled
) AS rules
WHERE c.is_active;
