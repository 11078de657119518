"""What the ledger answers: spend, usage reports, health, the daily chart, budget alerts and events.

Each function takes an open connection (see `schema.connect`) and runs one indexed SQL query per figure; none
loops over request rows in Python. Time windows are `since <= ts < until` in unix seconds; `None` is open.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from ccproxy_desktop.ledger.records import Event
from ccproxy_desktop.ledger.schema import transaction

__all__ = [
    "NO_KEY",
    "GroupBy",
    "HealthSnapshot",
    "UsageReport",
    "UsageRow",
    "add_event",
    "admissions",
    "admit",
    "alerts_sent",
    "claim_alert",
    "count",
    "daily_spend_by_model",
    "events",
    "health",
    "recent_outcomes",
    "spend",
    "unknown_cost_models",
    "usage",
]

GroupBy = Literal["model", "rule", "user", "session", "project", "agent"]

NO_KEY = "(none)"
"""The group key of requests without a user, session, project or agent (agent: rows older than schema 3)."""

_GROUP_COLUMNS: dict[GroupBy, str] = {
    "model": "routed_model",
    "rule": "label",
    "user": f"coalesce(user, '{NO_KEY}')",
    "session": f"coalesce(session_id, '{NO_KEY}')",
    "project": f"coalesce(project, '{NO_KEY}')",
    "agent": f"coalesce(agent, '{NO_KEY}')",
}

_MAX_CHART_DAYS = 3660

_USAGE_SUMS = (
    "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
    "coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_write_5m_tokens + cache_write_1h_tokens), 0), "
    "total(cost_usd), count(*) - count(cost_usd)"
)


@dataclass(frozen=True)
class UsageRow:
    """Totals of a set of requests. `cost_usd` sums the known costs only; `unknown_cost_requests` counts the
    requests whose model had no price, so a report can say the real figure is higher."""

    key: str | None  # None for the report's total
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int  # 5-minute plus 1-hour cache writes
    cost_usd: float
    unknown_cost_requests: int = 0


@dataclass(frozen=True)
class UsageReport:
    """`total` over the window and, when grouped, one row per key sorted by cost, then requests, descending."""

    total: UsageRow
    groups: list[UsageRow]


@dataclass(frozen=True)
class HealthSnapshot:
    """Request counts and latency since a moment. `requests_failed` counts every outcome but `ok` (errors and
    refusals). Latency percentiles are nearest-rank over successful requests, None when there are none."""

    requests_total: int
    requests_succeeded: int
    requests_failed: int
    by_model: dict[str, int]
    by_rule: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    first_ts: float | None  # the oldest request in the window
    cache_hits: int = 0  # successful requests answered by the response cache


def spend(
    conn: sqlite3.Connection,
    since: float,
    until: float | None = None,
    *,
    model: str | None = None,
    user: str | None = None,
    project: str | None = None,
) -> float:
    """The sum of known costs in the window; `model` matches the routed or the requested model name."""
    where, window = _window(since, until)
    sql = f"SELECT total(cost_usd) FROM requests {where}"
    params: list[object] = list(window)
    if model is not None:
        sql += " AND (routed_model = ? OR requested_model = ?)"
        params += [model, model]
    if user is not None:
        sql += " AND user = ?"
        params.append(user)
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    return float(conn.execute(sql, params).fetchone()[0])


def unknown_cost_models(conn: sqlite3.Connection, since: float) -> list[str]:
    """The routed models, sorted, of requests since `since` whose cost is unknown."""
    sql = (
        "SELECT DISTINCT routed_model FROM requests WHERE ts >= ? AND cost_usd IS NULL ORDER BY routed_model"
    )
    return [str(row[0]) for row in conn.execute(sql, (since,))]


def usage(
    conn: sqlite3.Connection,
    since: float | None,
    until: float | None = None,
    group_by: GroupBy | None = None,
) -> UsageReport:
    """Requests, tokens and cost in the window, in total and per model, rule, user, session, project or agent.

    The total is the sum of the groups (one query, so they always agree); requests without a user, session,
    project or agent are grouped under `NO_KEY`.
    """
    where, window = _window(since, until)
    if group_by is None:
        row = conn.execute(f"SELECT NULL, {_USAGE_SUMS} FROM requests {where}", window).fetchone()
        return UsageReport(total=_usage_row(row), groups=[])
    column = _GROUP_COLUMNS[group_by]
    sql = (
        f"SELECT {column} AS key, {_USAGE_SUMS} FROM requests {where} "
        "GROUP BY key ORDER BY total(cost_usd) DESC, count(*) DESC, key"
    )
    groups = [_usage_row(row) for row in conn.execute(sql, window)]
    return UsageReport(total=_sum_rows(groups), groups=groups)


def health(conn: sqlite3.Connection, since: float | None = None) -> HealthSnapshot:
    """Counts and latency percentiles of the requests since `since`, read from one snapshot.

    Each figure is one query over the window (each percentile a sorted read of its successful latencies),
    so the cost grows with the window: pass `since` (e.g. the proxy's start) rather than None on a large
    ledger.
    """
    where, window = _window(since, None)
    totals = (
        f"SELECT count(*), coalesce(sum(outcome = 'ok'), 0), min(ts), "
        f"coalesce(sum(cached AND outcome = 'ok'), 0) FROM requests {where}"
    )
    with transaction(conn, write=False):
        total, succeeded, first_ts, cache_hits = conn.execute(totals, window).fetchone()
        by_model = _counts(conn, "routed_model", since)
        by_rule = _counts(conn, "label", since)
        p50 = _latency_percentile(conn, since, succeeded, 50)
        p95 = _latency_percentile(conn, since, succeeded, 95)
    return HealthSnapshot(
        requests_total=total,
        requests_succeeded=succeeded,
        requests_failed=total - succeeded,
        by_model=by_model,
        by_rule=by_rule,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        first_ts=first_ts,
        cache_hits=cache_hits,
    )


def daily_spend_by_model(conn: sqlite3.Connection, since: float, tz: tzinfo) -> list[tuple[date, str, float]]:
    """Known cost per local calendar day (in `tz`) and routed model, from `since` to the newest request (at
    most `_MAX_CHART_DAYS` days after the oldest), sorted by day then model. Days and models without a known
    cost are left out (`unknown_cost_models` names the unpriced ones: never drawn as $0)."""
    first = conn.execute("SELECT min(ts) FROM requests WHERE ts >= ?", (since,)).fetchone()[0]
    if first is None:
        return []
    last = conn.execute("SELECT max(ts) FROM requests").fetchone()[0]
    last = min(float(last), float(first) + _MAX_CHART_DAYS * 86400)  # a bogus far-future ts must not hang us
    days = _local_days(float(first), last, tz)
    # Day i of the JSON list is [start, end), the first clipped to `since`; grouping by the integer index
    # rather than a date string keeps the per-row work of the sort small.
    bounds = [[max(start, since), stop] for _, start, stop in days]
    sql = (
        "WITH days AS (SELECT key AS i, json_extract(value, '$[0]') AS start, json_extract(value, '$[1]') AS stop "
        "FROM json_each(?)) "
        "SELECT i, routed_model, total(cost_usd) FROM days JOIN requests ON ts >= start AND ts < stop "
        "WHERE cost_usd IS NOT NULL GROUP BY i, routed_model ORDER BY i, routed_model"
    )
    rows = conn.execute(sql, (json.dumps(bounds),))
    return [(days[i][0], str(model), float(cost)) for i, model, cost in rows]


def claim_alert(
    conn: sqlite3.Connection,
    budget: str,
    period_key: str,
    fraction: float,
    payload: dict[str, object],
    ts: float,
) -> bool:
    """Record that `budget` reached `fraction` in `period_key`, with a `budget_alert` event holding `payload`,
    in one transaction. True only for the first caller, in any process, ever: the alert is sent once."""
    text = json.dumps(payload, sort_keys=True)
    with transaction(conn, write=True):
        claimed = conn.execute(
            "INSERT OR IGNORE INTO budget_alerts (budget, period_key, fraction, ts) VALUES (?, ?, ?, ?)",
            (budget, period_key, fraction, ts),
        ).rowcount
        if claimed:
            conn.execute("INSERT INTO events (ts, kind, payload) VALUES (?, 'budget_alert', ?)", (ts, text))
    return claimed == 1


def alerts_sent(conn: sqlite3.Connection, budget: str, period_key: str) -> list[float]:
    """The fractions already claimed for `budget` in `period_key`, ascending."""
    sql = "SELECT fraction FROM budget_alerts WHERE budget = ? AND period_key = ? ORDER BY fraction"
    return [float(row[0]) for row in conn.execute(sql, (budget, period_key))]


def admit(conn: sqlite3.Connection, user: str, now: float, window: float, limit: int) -> tuple[bool, float]:
    """Let one request of `user` through if fewer than `limit` were let through in the `window` seconds
    before `now` (a sliding window), recording it; else refuse. Returns (admitted, oldest admission still in
    the window). One write transaction, so concurrent workers never admit more than `limit` between them."""
    horizon = now - window
    with transaction(conn, write=True):
        conn.execute("DELETE FROM admissions WHERE user = ? AND ts <= ?", (user, horizon))
        count, oldest = conn.execute(
            "SELECT count(*), min(ts) FROM admissions WHERE user = ? AND ts > ?", (user, horizon)
        ).fetchone()
        if count >= limit:
            return False, float(oldest)
        conn.execute("INSERT INTO admissions (user, ts) VALUES (?, ?)", (user, now))
        return True, now if oldest is None else float(oldest)


def admissions(conn: sqlite3.Connection, since: float) -> dict[str, int]:
    """Requests let through per rate-limited user since `since`."""
    sql = "SELECT user, count(*) FROM admissions WHERE ts > ? GROUP BY user"
    return {str(user): int(n) for user, n in conn.execute(sql, (since,))}


def add_event(conn: sqlite3.Connection, kind: str, payload: dict[str, object], ts: float) -> int:
    """Store an event and return its id (ids only grow, so readers can poll with `events(after_id=...)`)."""
    text = json.dumps(payload, sort_keys=True)
    cur = conn.execute("INSERT INTO events (ts, kind, payload) VALUES (?, ?, ?)", (ts, kind, text))
    return int(cur.lastrowid or 0)


def events(conn: sqlite3.Connection, after_id: int = 0, kinds: Collection[str] | None = None) -> list[Event]:
    """Events with an id above `after_id`, oldest first, optionally only of the given kinds."""
    sql = "SELECT id, ts, kind, payload FROM events WHERE id > ?"
    params: list[object] = [after_id]
    if kinds is not None:
        wanted = sorted(set(kinds))
        sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
        params += wanted
    rows = conn.execute(sql + " ORDER BY id", params)
    return [Event(id=row[0], ts=row[1], kind=row[2], payload=_payload(row[3])) for row in rows]


def recent_outcomes(conn: sqlite3.Connection, since: float, limit: int) -> list[str]:
    """The outcomes of the latest `limit` requests with `ts >= since`, newest first."""
    sql = "SELECT outcome FROM requests WHERE ts >= ? ORDER BY ts DESC LIMIT ?"
    return [str(row[0]) for row in conn.execute(sql, (since, limit))]


def count(conn: sqlite3.Connection) -> int:
    """How many requests the ledger holds."""
    return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def _window(since: float | None, until: float | None) -> tuple[str, tuple[float, ...]]:
    """The WHERE clause of `since <= ts < until` and its parameters. An open bound is left out rather than
    made infinite, so an unbounded query scans the table instead of walking the ts index row by row."""
    terms = [term for term, bound in (("ts >= ?", since), ("ts < ?", until)) if bound is not None]
    params = tuple(bound for bound in (since, until) if bound is not None)
    return ("WHERE " + " AND ".join(terms) if terms else ""), params


def _usage_row(row: Sequence[Any]) -> UsageRow:
    key, requests, inputs, outputs, cache_read, cache_write, cost, unknown = row
    return UsageRow(
        key=None if key is None else str(key),
        requests=int(requests),
        input_tokens=int(inputs),
        output_tokens=int(outputs),
        cache_read_tokens=int(cache_read),
        cache_write_tokens=int(cache_write),
        cost_usd=float(cost),
        unknown_cost_requests=int(unknown),
    )


def _sum_rows(rows: Sequence[UsageRow]) -> UsageRow:
    return UsageRow(
        key=None,
        requests=sum(r.requests for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        cache_write_tokens=sum(r.cache_write_tokens for r in rows),
        cost_usd=math.fsum(r.cost_usd for r in rows),
        unknown_cost_requests=sum(r.unknown_cost_requests for r in rows),
    )


def _counts(conn: sqlite3.Connection, column: str, since: float | None) -> dict[str, int]:
    where, window = _window(since, None)
    sql = f"SELECT {column}, count(*) FROM requests {where} GROUP BY {column} ORDER BY {column}"
    return {str(key): int(n) for key, n in conn.execute(sql, window)}


def _latency_percentile(
    conn: sqlite3.Connection, since: float | None, n_ok: int, percent: int
) -> float | None:
    """The nearest-rank percentile of the `n_ok` successful requests since `since`: the latency at rank
    ceil(percent/100 * n) in ascending order. None when there are none."""
    if n_ok == 0:
        return None
    where, window = _window(since, None)
    where = f"{where} AND outcome = 'ok'" if where else "WHERE outcome = 'ok'"
    sql = f"SELECT latency_ms FROM requests {where} ORDER BY latency_ms LIMIT 1 OFFSET ?"
    return float(conn.execute(sql, (*window, math.ceil(percent * n_ok / 100) - 1)).fetchone()[0])


def _local_days(first: float, last: float, tz: tzinfo) -> list[tuple[date, float, float]]:
    """(date, start, end) of every local day in `tz` from the one holding `first` to the one holding
    `last`; each day ends where the next starts, whatever DST does to its length."""
    day = datetime.fromtimestamp(first, tz).date()
    end_day = datetime.fromtimestamp(last, tz).date()
    days: list[tuple[date, float, float]] = []
    start = _midnight(day, tz)
    while day <= end_day:
        following = day + timedelta(days=1)
        stop = _midnight(following, tz)
        days.append((day, start, stop))
        day, start = following, stop
    return days


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def _payload(text: str) -> dict[str, object]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}
