"""Expand dashboard SQL the way Grafana's PostgreSQL data source and Metabase do before they
send it to the database, so tests run the very text those servers would run.

Grafana (pkg/tsdb/grafana-postgresql-datasource/macros.go and the interpolation rules):
- ``${var:sqlstring}``: every selected value single-quoted with ``'`` doubled, joined by
  commas; with All and no custom allValue, the values are every option of the variable;
- ``$__timeFilter(col)``: ``col BETWEEN '<from>' AND '<to>'`` with RFC 3339 UTC timestamps
  (fraction digits only when non-zero), inclusive at both ends;
- ``$__timeFrom()`` / ``$__timeTo()``: the same quoted timestamps.
Metabase (native queries): ``{{tag}}`` of type text becomes a string literal; an optional
``[[ … ]]`` clause is dropped when its tag has no value, kept without brackets otherwise.
"""

from __future__ import annotations

import datetime as dt
import re

_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")


def rfc3339(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand_grafana(
    sql: str, *, variables: dict[str, list[str]], time_from: dt.datetime, time_to: dt.datetime
) -> str:
    start, end = sql_string(rfc3339(time_from)), sql_string(rfc3339(time_to))
    sql = _TIME_FILTER.sub(lambda m: f"{m.group(1).strip()} BETWEEN {start} AND {end}", sql)
    sql = sql.replace("$__timeFrom()", start).replace("$__timeTo()", end)
    for name, values in variables.items():
        sql = sql.replace(f"${{{name}:sqlstring}}", ",".join(sql_string(v) for v in values))
    if "$" in sql:
        raise ValueError(f"unexpanded Grafana macro or variable in: {sql}")
    return sql


def expand_metabase(sql: str, *, parameters: dict[str, str | None]) -> str:
    def optional(match: re.Match) -> str:
        clause = match.group(1)
        tags = re.findall(r"\{\{\s*(\w+)\s*\}\}", clause)
        return clause if all(parameters.get(tag) is not None for tag in tags) else ""

    sql = re.sub(r"\[\[(.*?)\]\]", optional, sql)
    sql = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: sql_string(str(parameters[m.group(1)])), sql)
    if "{{" in sql or "[[" in sql:
        raise ValueError(f"unexpanded Metabase tag in: {sql}")
    return sql
