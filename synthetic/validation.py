"""The validation report: what the database holds after ingesting the set, against what the set
says it should, and each planted scenario's expected answer next to what its Q view returns.

Everything in the report is independent of the day the set was ingested: dates are given in
the files' own time (the view's day minus the ingestion shift), and nothing depends on the
time of day (no "late by N minutes"). So the committed report is reproducible.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection

from synthetic import generator


def build_report(
    *, data: generator.DataSet, shift_days: int, outcomes: dict[str, int]
) -> dict[str, Any]:
    clients = [c["slug"] for c in data.inventory["clients"]]
    summary = generator.summarize(data)
    database = _database_counts(clients)
    checks = [
        _check("runs stored", summary["runs"], database["runs"]),
        _check("runs by status", summary["runs_by_status"], database["runs_by_status"]),
        _check("rejected items", summary["invalid_items"], outcomes.get("rejected", 0)),
        _check(
            "items answered",
            summary["items"],
            sum(outcomes.values()),
        ),
        _check(
            "runs differing from the expected final state",
            0,
            _differing_runs(data, clients, shift_days),
        ),
        _check("duplicate (pipeline, external_run_id)", 0, _duplicates(clients)),
        *_integrity(),
    ]
    scenarios = _scenarios(data, clients, shift_days)
    return {
        "data_set": {
            "seed": data.seed,
            "days": data.days,
            "anchor": generator.iso(generator.ANCHOR),
            "files": summary,
        },
        "ingestion": {"outcomes": outcomes},
        "database": database,
        "checks": checks,
        "scenarios": scenarios,
        "ok": all(c["ok"] for c in checks) and all(s["ok"] for s in scenarios),
    }


def report_files(report: dict[str, Any]) -> dict[str, bytes]:
    return {
        "validation_report.json": (json.dumps(report, indent=2) + "\n").encode(),
        "validation_report.md": render_markdown(report).encode(),
    }


def render_markdown(report: dict[str, Any]) -> str:
    data = report["data_set"]
    files = data["files"]
    lines = [
        f"# Synthetic data set v{generator.SET_VERSION}: validation report",
        "",
        "Written by `chm-synthetic-orchestrator --validate` after ingesting the set into an empty "
        "database (see docs/synthetic-data.md). Dates are in the files' own time: the data ends "
        f"at the anchor, {data['anchor']}; ingestion shifts it by whole days to end today.",
        "",
        f"Verdict: **{'all checks and scenarios pass' if report['ok'] else 'FAILURES below'}**.",
        "",
        "## The set",
        "",
        "| seed | days | clients | pipelines | alert rules | batches | items | invalid items | runs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {data['seed']} | {data['days']} | {files['clients']} | {files['pipelines']} | "
        f"{files['alert_rules']} | {files['batches']} | {files['items']} | "
        f"{files['invalid_items']} | {files['runs']} |",
        "",
        "## Ingestion outcomes",
        "",
        "| outcome | items |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in report["ingestion"]["outcomes"].items()],
        "",
        "## In the database",
        "",
        "| entity | rows |",
        "| --- | --- |",
        *[
            f"| {k.replace('_', ' ')} | {v} |"
            for k, v in report["database"].items()
            if k != "runs_by_status"
        ],
        *[f"| runs {k} | {v} |" for k, v in report["database"]["runs_by_status"].items()],
        "",
        "## Checks",
        "",
        "| check | expected | found | |",
        "| --- | --- | --- | --- |",
        *[
            f"| {c['name']} | {_cell(c['expected'])} | {_cell(c['found'])} | "
            f"{'ok' if c['ok'] else '**FAIL**'} |"
            for c in report["checks"]
        ],
        "",
        "## Planted scenarios",
        "",
        "| scenario | view | expected | found | |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {s['name']} | {s['view']} | {_cell(s['expected'])} | {_cell(s['found'])} | "
            f"{'ok' if s['ok'] else '**FAIL**'} |"
            for s in report["scenarios"]
        ],
        "",
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value) or "none"
    return str(value)


def _check(name: str, expected: Any, found: Any) -> dict[str, Any]:
    return {"name": name, "expected": expected, "found": found, "ok": expected == found}


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _database_counts(clients: list[str]) -> dict[str, Any]:
    (counts,) = _rows(
        """
        SELECT
            (SELECT count(*) FROM inventory_client WHERE slug = ANY(%s)),
            (SELECT count(*) FROM inventory_pipeline p JOIN inventory_client c
                ON c.id = p.client_id WHERE c.slug = ANY(%s)),
            (SELECT count(*) FROM alerts_alertrule a JOIN inventory_client c
                ON c.id = a.client_id WHERE c.slug = ANY(%s))
        """,
        [clients, clients, clients],
    )
    statuses = dict(
        _rows(
            "SELECT r.status, count(*) FROM runs_run r JOIN inventory_pipeline p"
            " ON p.id = r.pipeline_id JOIN inventory_client c ON c.id = p.client_id"
            " WHERE c.slug = ANY(%s) GROUP BY r.status ORDER BY r.status",
            [clients],
        )
    )
    return {
        "clients": counts[0],
        "pipelines": counts[1],
        "alert_rules": counts[2],
        "runs": sum(statuses.values()),
        "runs_by_status": statuses,
    }


def _differing_runs(data: generator.DataSet, clients: list[str], shift_days: int) -> int:
    stored = {
        (client, pipeline, external_id): (status, started, finished)
        for client, pipeline, external_id, status, started, finished in _rows(
            "SELECT c.slug, p.slug, r.external_run_id, r.status, r.started_at, r.finished_at"
            " FROM runs_run r JOIN inventory_pipeline p ON p.id = r.pipeline_id"
            " JOIN inventory_client c ON c.id = p.client_id WHERE c.slug = ANY(%s)",
            [clients],
        )
    }
    shift = dt.timedelta(days=shift_days)
    differing = len(stored.keys() - data.expected_runs.keys())
    for key, (status, started, finished) in data.expected_runs.items():
        found = stored.get(key)
        want = (
            status,
            dt.datetime.fromisoformat(started) + shift,
            dt.datetime.fromisoformat(finished) + shift if finished else None,
        )
        if found != want:
            differing += 1
    return differing


def _duplicates(clients: list[str]) -> int:
    (row,) = _rows(
        "SELECT count(*) FROM (SELECT r.pipeline_id, r.external_run_id FROM runs_run r"
        " JOIN inventory_pipeline p ON p.id = r.pipeline_id JOIN inventory_client c"
        " ON c.id = p.client_id WHERE c.slug = ANY(%s)"
        " GROUP BY 1, 2 HAVING count(*) > 1) AS d",
        [clients],
    )
    return row[0]


def _integrity() -> list[dict[str, Any]]:
    (row,) = _rows(
        """
        SELECT
            (SELECT count(*) FROM runs_run r
                LEFT JOIN inventory_pipeline p ON p.id = r.pipeline_id WHERE p.id IS NULL),
            (SELECT count(*) FROM inventory_pipeline p
                LEFT JOIN inventory_client c ON c.id = p.client_id WHERE c.id IS NULL),
            (SELECT count(*) FROM alerts_alertrule a JOIN inventory_pipeline p
                ON p.id = a.pipeline_id WHERE p.client_id <> a.client_id)
        """
    )
    return [
        _check("runs without their pipeline", 0, row[0]),
        _check("pipelines without their client", 0, row[1]),
        _check("alert rules on another client's pipeline", 0, row[2]),
    ]


def _scenarios(data: generator.DataSet, clients: list[str], shift_days: int) -> list[dict]:
    planted = data.scenarios["scenarios"]
    shift = dt.timedelta(days=shift_days)

    def day(bucket: dt.datetime) -> str:
        return (bucket - shift).date().isoformat()

    def ref(client: str, pipeline: str) -> str:
        return f"{client}/{pipeline}"

    results = []
    outage = planted["platform_outage"]
    q1 = _rows(
        "SELECT bucket_start, platform, sum(failures) AS failures"
        " FROM reporting.q01_failures_over_time WHERE client_slug = ANY(%s)"
        " GROUP BY bucket_start, platform ORDER BY failures DESC, bucket_start, platform LIMIT 1",
        [clients],
    )
    results.append(
        _scenario(
            "platform outage",
            "q01_failures_over_time",
            {"day": outage["day"], "platform": outage["platform"]},
            {"day": day(q1[0][0]), "platform": q1[0][1]} if q1 else None,
        )
    )
    q8 = _rows(
        "SELECT bucket_start, platform FROM reporting.q08_platform_failure_daily"
        " ORDER BY failures DESC, bucket_start, platform LIMIT 1"
    )
    results.append(
        _scenario(
            "platform outage",
            "q08_platform_failure_daily",
            {"day": outage["day"], "platform": outage["platform"]},
            {"day": day(q8[0][0]), "platform": q8[0][1]} if q8 else None,
        )
    )
    flaky = [ref(p["client"], p["pipeline"]) for p in planted["flaky_pipelines"]["pipelines"]]
    q7 = _rows(
        "SELECT client_slug, pipeline_slug, is_flaky FROM reporting.q07_flaky_ranking"
        " WHERE client_slug = ANY(%s)"
        " ORDER BY flip_rate DESC NULLS LAST, failures DESC, client_slug, pipeline_slug",
        [clients],
    )
    results.append(
        _scenario(
            "flaky pipelines (top of the ranking, in order; the only flaky ones)",
            "q07_flaky_ranking",
            {"top": flaky, "flaky": len(flaky)},
            {
                "top": [ref(c, p) for c, p, _ in q7[: len(flaky)]],
                "flaky": sum(1 for *_, is_flaky in q7 if is_flaky),
            },
        )
    )
    failing = planted["failing_streak"]
    q6 = _rows(
        "SELECT client_slug, pipeline_slug, consecutive_failures FROM reporting.q06_triage"
        " WHERE client_slug = ANY(%s) ORDER BY consecutive_failures DESC, client_slug,"
        " pipeline_slug",
        [clients],
    )
    results.append(
        _scenario(
            "failing for its last runs (the only one failing)",
            "q06_triage",
            [
                {
                    "pipeline": ref(failing["client"], failing["pipeline"]),
                    "consecutive_failures": failing["consecutive_failures"],
                }
            ],
            [{"pipeline": ref(c, p), "consecutive_failures": n} for c, p, n in q6],
        )
    )
    stale = planted["stale_pipeline"]
    q9_stale = _rows(
        "SELECT client_slug, pipeline_slug FROM reporting.q09_freshness_and_stuck"
        " WHERE kind = 'stale' AND client_slug = ANY(%s) ORDER BY 1, 2",
        [clients],
    )
    results.append(
        _scenario(
            "stale pipeline (the only one)",
            "q09_freshness_and_stuck",
            [ref(stale["client"], stale["pipeline"])],
            [ref(c, p) for c, p in q9_stale],
        )
    )
    stuck = planted["stuck_run"]
    q9_stuck = _rows(
        "SELECT client_slug, pipeline_slug, external_run_id FROM reporting.q09_freshness_and_stuck"
        " WHERE kind = 'stuck' AND client_slug = ANY(%s) ORDER BY 1, 2, 3",
        [clients],
    )
    results.append(
        _scenario(
            "stuck run (the only one)",
            "q09_freshness_and_stuck",
            [f"{ref(stuck['client'], stuck['pipeline'])} {stuck['external_run_id']}"],
            [f"{ref(c, p)} {run}" for c, p, run in q9_stuck],
        )
    )
    regression = planted["duration_regression"]
    q5 = _rows(
        "SELECT client_slug, pipeline_slug FROM reporting.q05_what_changed"
        " WHERE is_slower AND client_slug = ANY(%s) ORDER BY 1, 2",
        [clients],
    )
    results.append(
        _scenario(
            "duration regression (the only slower pipeline)",
            "q05_what_changed",
            [ref(regression["client"], regression["pipeline"])],
            [ref(c, p) for c, p in q5],
        )
    )
    results.extend(_incident_scenarios(planted["incidents"], clients, shift))
    uncovered = planted["uncovered_client"]
    q10 = _rows(
        "SELECT client_slug, coverage_pct FROM reporting.q10_governance_by_client"
        " WHERE client_slug = ANY(%s) AND coverage_pct < 100 ORDER BY 1",
        [clients],
    )
    results.append(
        _scenario(
            "client without alert coverage (the only one below 100 %)",
            "q10_governance_by_client",
            [f"{uncovered['client']}: 0.0 %"],
            [f"{c}: {pct} %" for c, pct in q10],
        )
    )
    return results


def _incident_scenarios(
    planted: dict[str, Any], clients: list[str], shift: dt.timedelta
) -> list[dict[str, Any]]:
    """Q11: the incidents found against those planted, and the grouping's pairwise precision
    and recall over every failed run of the set's last ``window_days_before_end`` days (runs
    in no incident count as groups of one)."""
    groups = {name: value for name, value in planted.items() if isinstance(value, dict)}

    def ref(run: dict[str, str]) -> str:
        return f"{run['client']}/{run['pipeline']}"

    expected_incidents = sorted(
        (
            {
                "kind": "platform " + group["platform"] if "platform" in group else "signature",
                "pipelines": sorted(ref(run) for run in group["runs"]),
            }
            for name, group in groups.items()
            if name != "look_alikes"
        ),
        key=lambda incident: incident["pipelines"],
    )
    members: dict[str, dict[str, Any]] = {}
    for key, kind, platform, client, pipeline in _rows(
        "SELECT incident_key, kind, platform, client_slug, pipeline_slug"
        " FROM reporting.q11_incident_pipelines WHERE client_slug = ANY(%s)",
        [clients],
    ):
        incident = members.setdefault(key, {"kind": kind, "platforms": set(), "pipelines": []})
        incident["platforms"].add(platform)
        incident["pipelines"].append(f"{client}/{pipeline}")
    found_incidents = sorted(
        (
            {
                "kind": (
                    "platform " + min(incident["platforms"])
                    if incident["kind"] == "platform"
                    else "signature"
                ),
                "pipelines": sorted(incident["pipelines"]),
            }
            for incident in members.values()
        ),
        key=lambda incident: incident["pipelines"],
    )

    window_start = generator.ANCHOR - dt.timedelta(days=planted["window_days_before_end"]) + shift
    expected_label = {
        (run["client"], run["pipeline"], run["external_run_id"]): name
        for name, group in groups.items()
        if name != "look_alikes"
        for run in group["runs"]
    }
    runs = _rows(
        "SELECT c.slug, p.slug, r.external_run_id, i.incident_key"
        " FROM runs_run r JOIN inventory_pipeline p ON p.id = r.pipeline_id"
        " JOIN inventory_client c ON c.id = p.client_id"
        " LEFT JOIN reporting.q11_incident_pipelines i ON i.pipeline_id = r.pipeline_id"
        "  AND r.started_at BETWEEN i.first_failed_at AND i.last_failed_at"
        " WHERE r.status = 'failed' AND r.started_at >= %s AND c.slug = ANY(%s)",
        [window_start, clients],
    )
    expected = [expected_label.get((c, p, run_id)) for c, p, run_id, _ in runs]
    found = [key for *_, key in runs]
    precision, recall = pairwise_precision_recall(expected, found)
    return [
        _scenario(
            "incidents: shared causes grouped, look-alikes apart",
            "q11_incidents",
            expected_incidents,
            found_incidents,
        ),
        _scenario(
            f"incident grouping of the {len(runs)} failed runs of the last "
            f"{planted['window_days_before_end']} days (pairwise)",
            "q11_incident_pipelines",
            {"precision": 1.0, "recall": 1.0},
            {"precision": precision, "recall": recall},
        ),
    ]


def pairwise_precision_recall(
    expected: list[str | None], found: list[str | None]
) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping: over the pairs of items grouped together
    by ``found``, the share also together in ``expected``, and the other way round. An item
    labelled None is a group of its own. 1.0 when there are no such pairs."""
    together_expected = together_found = together_both = 0
    for i in range(len(expected)):
        for j in range(i + 1, len(expected)):
            in_expected = expected[i] is not None and expected[i] == expected[j]
            in_found = found[i] is not None and found[i] == found[j]
            together_expected += in_expected
            together_found += in_found
            together_both += in_expected and in_found
    precision = together_both / together_found if together_found else 1.0
    recall = together_both / together_expected if together_expected else 1.0
    return round(precision, 3), round(recall, 3)


def _scenario(name: str, view: str, expected: Any, found: Any) -> dict[str, Any]:
    return {
        "name": name,
        "view": view,
        "expected": expected,
        "found": found,
        "ok": expected == found,
    }
