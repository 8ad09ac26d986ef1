-- Q10 governance per active pipeline, version 2: the same rows and columns as version 1 (an
-- owner, documentation (a link or a description), the enabled alert rules covering it (its
-- own and its client's client-wide ones) and how many of those fire for it now), the firing
-- rules read from the alert state table (an open alerts_alertstate row for the rule and the
-- pipeline) instead of the rule's former JSON firing state.
CREATE OR REPLACE VIEW reporting.q10_governance AS
SELECT
    p.id AS pipeline_id,
    p.slug::text AS pipeline_slug,
    COALESCE(NULLIF(p.name, ''), p.slug)::text AS pipeline_name,
    c.id AS client_id,
    c.slug::text AS client_slug,
    c.name::text AS client_name,
    p.platform::text AS platform,
    p.owner::text AS owner,
    (btrim(p.owner) <> '') AS has_owner,
    (btrim(p.docs_url) <> '' OR btrim(p.description) <> '') AS has_documentation,
    NULLIF(p.docs_url, '')::text AS docs_url,
    rules.pipeline_rules,
    rules.client_wide_rules,
    rules.pipeline_rules + rules.client_wide_rules AS covering_rules,
    (rules.pipeline_rules + rules.client_wide_rules > 0) AS is_covered,
    rules.firing_rules
FROM inventory_pipeline p
JOIN inventory_client c ON c.id = p.client_id
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE a.pipeline_id = p.id) AS pipeline_rules,
        count(*) FILTER (WHERE a.pipeline_id IS NULL) AS client_wide_rules,
        count(f.id) AS firing_rules
    FROM alerts_alertrule a
    LEFT JOIN alerts_alertstate f
      ON f.rule_id = a.id AND f.pipeline_id = p.id AND f.resolved_at IS NULL
    WHERE a.client_id = p.client_id
      AND a.is_enabled
      AND (a.pipeline_id IS NULL OR a.pipeline_id = p.id)
) AS rules
WHERE p.is_active AND c.is_active;
