"""Every alert rule kind, defined once: what it checks (one set-based query), how its
condition reads on the pages, why it fires (in a notification and on the pages), and which
of the rule's fields it needs.

The model (its choices and ``clean()``), the inventory loader, the evaluation and the
templates all read ``KINDS``; adding a kind is adding one ``RuleKindDefinition`` here.

A kind's query returns one row per (rule, subject) whose condition holds at ``%(now)s``:
``rule_id, pipeline_id, subject_key, run_ids`` and then the kind's own detail columns, which
its ``why`` turns into a sentence. Most kinds watch pipelines one by one (the subject is the
pipeline, ``subject_key`` is ``pipeline:<id>``); the incident kind watches incidents spanning
several pipelines: it returns a NULL ``pipeline_id`` and ``incident:<incident key>``, and the
alert state and history hold it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class RuleLike(Protocol):
    kind: str
    threshold: int
    window_minutes: int | None
    min_runs: int | None


def pipeline_subject(pipeline_id: int) -> str:
    return f"pipeline:{pipeline_id}"


INCIDENT_SUBJECT_PREFIX = "incident:"


def incident_of(subject_key: str) -> str | None:
    """The incident key of an incident subject (``incident:<key>``); None for a pipeline."""
    if subject_key.startswith(INCIDENT_SUBJECT_PREFIX):
        return subject_key.removeprefix(INCIDENT_SUBJECT_PREFIX)
    return None


def _minutes(value: int | None) -> str:
    if value is None:
        return "—"
    if value % 1440 == 0:
        return f"{value // 1440} d"
    if value % 60 == 0:
        return f"{value // 60} h"
    return f"{value} min"


@dataclass(frozen=True)
class RuleKindDefinition:
    value: str
    label: str
    # The query (see the module's docstring); prefixed with the (rule, pipeline) scope.
    query: str
    # The rule's condition in words, for pages and notifications.
    describe: Callable[[RuleLike], str]
    # Why it fires, from the rule and the query's detail columns.
    why: Callable[[RuleLike, tuple], str]
    # Which optional fields the kind needs ("window_minutes", "min_runs").
    needs: tuple[str, ...] = ()
    # The largest threshold that makes sense (a percentage: 100), and what to say past it.
    max_threshold: int | None = None
    max_threshold_message: str = ""
    # The smallest one (an incident involves at least 2 pipelines), and what to say below it.
    min_threshold: int = 1
    min_threshold_message: str = ""
    # How an error message names a rule of this kind ("a failure-rate rule").
    noun: str = "rule"
    # What the pipelines are to this kind: one alert per pipeline ("pipeline"), or one per
    # incident ("incident"; see INCIDENT below).
    subject: str = "pipeline"

    def errors(
        self, *, threshold: int | None, window_minutes: int | None, min_runs: int | None
    ) -> dict[str, str]:
        """Field → what is wrong, for the admin form, the inventory loader and the API."""
        errors = {}
        if self.max_threshold is not None and threshold and threshold > self.max_threshold:
            errors["threshold"] = self.max_threshold_message or (
                f"The threshold is at most {self.max_threshold}."
            )
        if threshold is not None and threshold < self.min_threshold:
            errors["threshold"] = self.min_threshold_message or (
                f"The threshold is at least {self.min_threshold}."
            )
        given = {"window_minutes": window_minutes, "min_runs": min_runs}
        for name in self.needs:
            if not given[name]:
                errors[name] = f"A {self.noun} needs {_NEEDS_WORDS[name]}."
        return errors


_NEEDS_WORDS = {"window_minutes": "a window", "min_runs": "a minimum number of runs"}

# (rule, pipeline) pairs the rules apply to: the rule's own pipeline, or every pipeline of
# its client; only active pipelines of active clients are monitored.
SCOPE = """
WITH scope AS (
    SELECT r.id AS rule_id, r.threshold, r.window_minutes, r.min_runs,
           p.id AS pipeline_id, p.freshness_minutes, p.created_at AS pipeline_created_at
    FROM alerts_alertrule r
    JOIN inventory_pipeline p
      ON p.client_id = r.client_id AND (r.pipeline_id IS NULL OR r.pipeline_id = p.id)
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.id = ANY(%(rule_ids)s::bigint[])
      AND p.is_active AND c.is_active
      AND (%(pipeline_ids)s::bigint[] IS NULL OR p.id = ANY(%(pipeline_ids)s::bigint[]))
)
"""


CONSECUTIVE_FAILURES = RuleKindDefinition(
    value="consecutive_failures",
    label="Consecutive failures ≥ N",
    # The streak is the pipeline state's (runs/pipeline_state.py defines it: failed runs since
    # the last success-or-failed run that succeeded; canceled, skipped and unfinished runs
    # neither clear nor extend it); the runs named are the newest failures of that streak.
    query="""
SELECT s.rule_id, s.pipeline_id, 'pipeline:' || s.pipeline_id, f.run_ids,
       st.consecutive_failures
FROM scope s
JOIN runs_pipelinestate st ON st.pipeline_id = s.pipeline_id
CROSS JOIN LATERAL (
    SELECT array_agg(r.id ORDER BY r.started_at DESC, r.id DESC) AS run_ids
    FROM (
        SELECT r.id, r.started_at
        FROM runs_run r
        WHERE r.pipeline_id = s.pipeline_id AND r.status = 'failed'
          AND r.started_at >= st.failing_since
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT %(max_runs)s
    ) r
) f
WHERE st.consecutive_failures >= s.threshold
""",
    describe=lambda rule: f"{rule.threshold} failures in a row",
    why=lambda rule, details: (
        f"{details[0]} failed runs in a row since the last success (threshold {rule.threshold})"
    ),
)

FAILURE_RATE = RuleKindDefinition(
    value="failure_rate",
    label="Failure rate ≥ X % over a window",
    # failed / (success + failed) over runs started in the window, with enough of them;
    # compared in integers (100 × failed ≥ X × finished) so that exactly X % fires.
    query="""
SELECT s.rule_id, s.pipeline_id, 'pipeline:' || s.pipeline_id, w.run_ids, w.failed, w.finished
FROM scope s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE r.status = 'failed') AS failed,
           count(*) AS finished,
           (array_agg(r.id ORDER BY r.started_at DESC, r.id DESC)
               FILTER (WHERE r.status = 'failed'))[1:%(max_runs)s] AS run_ids
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status IN ('success', 'failed')
      AND r.started_at >= %(now)s - make_interval(mins => s.window_minutes)
      AND r.started_at <= %(now)s
) w
WHERE w.finished >= s.min_runs AND 100 * w.failed >= s.threshold * w.finished
""",
    describe=lambda rule: (
        f"failure rate ≥ {rule.threshold} % over {_minutes(rule.window_minutes)} "
        f"(at least {rule.min_runs} runs)"
    ),
    why=lambda rule, details: (
        f"{details[0]} of {details[1]} finished runs failed in the last "
        f"{rule.window_minutes} min ({100 * details[0] / details[1]:.0f} % ≥ {rule.threshold} %)"
    ),
    needs=("window_minutes", "min_runs"),
    max_threshold=100,
    max_threshold_message="A failure rate is a percentage: at most 100.",
    noun="failure-rate rule",
)


def _stale_why(rule: RuleLike, details: tuple) -> str:
    succeeded_at = details[0]
    if succeeded_at is None:
        return f"no successful run yet, expected within {rule.threshold} min"
    return (
        f"no successful run since {succeeded_at:%Y-%m-%d %H:%M} UTC "
        f"(expected within {rule.threshold} min)"
    )


STALE = RuleKindDefinition(
    value="stale",
    label="Stale: no success within N minutes",
    # The clock runs from the last success (its end), or from the pipeline's registration if
    # it never succeeded; pipelines that never ran and declare no freshness expectation are
    # not expected to run yet and are left out.
    query="""
SELECT s.rule_id, s.pipeline_id, 'pipeline:' || s.pipeline_id,
       CASE WHEN ls.id IS NULL THEN ARRAY[]::bigint[] ELSE ARRAY[ls.id] END AS run_ids,
       ls.succeeded_at
FROM scope s
LEFT JOIN LATERAL (
    SELECT r.id, COALESCE(r.finished_at, r.started_at) AS succeeded_at
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status = 'success'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) ls ON true
WHERE COALESCE(ls.succeeded_at, s.pipeline_created_at)
        <= %(now)s - make_interval(mins => s.threshold)
  AND (s.freshness_minutes IS NOT NULL
       OR EXISTS (SELECT 1 FROM runs_run e WHERE e.pipeline_id = s.pipeline_id))
""",
    describe=lambda rule: f"no success within {_minutes(rule.threshold)}",
    why=_stale_why,
)

LONG_RUNNING = RuleKindDefinition(
    value="long_running",
    label="Long running: still running after N minutes",
    # Runs in `running` for N minutes or more (on the partial in-progress index).
    query="""
SELECT s.rule_id, s.pipeline_id, 'pipeline:' || s.pipeline_id, w.run_ids, w.running
FROM scope s
CROSS JOIN LATERAL (
    SELECT count(*) AS running,
           (array_agg(r.id ORDER BY r.started_at, r.id))[1:%(max_runs)s] AS run_ids
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status = 'running'
      AND r.started_at <= %(now)s - make_interval(mins => s.threshold)
) w
WHERE w.running > 0
""",
    describe=lambda rule: f"running longer than {_minutes(rule.threshold)}",
    why=lambda rule, details: f"{details[0]} run(s) still running after {rule.threshold} min",
)


def _incident_why(rule: RuleLike, details: tuple) -> str:
    kind, platform, pipelines, clients, first_seen = details[:5]
    cause = "one error" if kind == "signature" else f"platform {platform}"
    return (
        f"{pipelines} pipelines of {clients} client(s) failing with {cause} since "
        f"{first_seen:%Y-%m-%d %H:%M} UTC (threshold {rule.threshold})"
    )


INCIDENT = RuleKindDefinition(
    value="incident",
    label="New incident involving N or more pipelines",
    # One alert per incident, not per pipeline. Incidents are the Q11 views' (one definition:
    # reporting.q11_incidents and q11_incident_pipelines group the failures; nothing here
    # regroups them). An open incident fires a rule when it involves N or more pipelines in
    # all, any client's, counting none under maintenance (%(paused)s), and at least one of
    # them is in the rule's scope (its pipeline, or a pipeline of its client). Once fired it
    # holds while the incident stays open, however its count or the rule's pipelines change:
    # it resolves when the incident does (or leaves the views' 7 days). Pipelines joining
    # later change nothing, so nothing is notified again but reminders.
    # incident_pipelines is MATERIALIZED: read once, for the counts and the scope.
    query="""
, incident_pipelines AS MATERIALIZED (
    SELECT m.incident_key, m.pipeline_id, m.client_id, m.last_run_id, m.last_failed_at
    FROM reporting.q11_incident_pipelines m
    WHERE m.pipeline_id <> ALL(%(paused)s::bigint[])
), counted AS (
    SELECT i.incident_key, i.kind, i.platform, i.first_seen,
           count(*) AS pipelines, count(DISTINCT m.client_id) AS clients,
           (array_agg(m.last_run_id ORDER BY m.last_failed_at DESC, m.last_run_id DESC))
               [1:%(max_runs)s] AS run_ids
    FROM reporting.q11_incidents i
    JOIN incident_pipelines m ON m.incident_key = i.incident_key
    WHERE i.state = 'open'
    GROUP BY i.incident_key, i.kind, i.platform, i.first_seen
), rules AS (
    SELECT r.id AS rule_id, r.threshold
    FROM alerts_alertrule r
    WHERE r.id = ANY(%(rule_ids)s::bigint[])
)
SELECT r.rule_id, NULL::bigint, 'incident:' || c.incident_key, c.run_ids,
       c.kind, c.platform, c.pipelines, c.clients, c.first_seen
FROM counted c
JOIN rules r
  ON (c.pipelines >= r.threshold
      AND EXISTS (SELECT 1 FROM scope s
                  JOIN incident_pipelines m ON m.pipeline_id = s.pipeline_id
                  WHERE s.rule_id = r.rule_id AND m.incident_key = c.incident_key))
  OR EXISTS (SELECT 1 FROM alerts_alertstate a
             WHERE a.rule_id = r.rule_id AND a.resolved_at IS NULL
               AND a.subject_key = 'incident:' || c.incident_key)
""",
    describe=lambda rule: f"a new incident involving {rule.threshold} or more pipelines",
    why=_incident_why,
    min_threshold=2,
    min_threshold_message="An incident involves at least 2 pipelines: the threshold is at least 2.",
    noun="incident rule",
    subject="incident",
)

KINDS: dict[str, RuleKindDefinition] = {
    kind.value: kind for kind in (CONSECUTIVE_FAILURES, FAILURE_RATE, STALE, LONG_RUNNING, INCIDENT)
}


def definition(kind: str) -> RuleKindDefinition:
    return KINDS[kind]


def query(kind: str) -> str:
    # Both parts are constants of this module; values always travel as parameters.
    return SCOPE + KINDS[kind].query


def rule_errors(values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with a rule's kind-specific fields (``values`` as a form gives them)."""
    kind = KINDS.get(values.get("kind") or "")
    if kind is None:
        return {}
    return kind.errors(
        threshold=values.get("threshold"),
        window_minutes=values.get("window_minutes"),
        min_runs=values.get("min_runs"),
    )
