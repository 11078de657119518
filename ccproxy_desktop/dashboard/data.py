"""What each dashboard page shows, as JSON-ready dicts. Numbers come from the same functions as
`ccproxy usage --json` / `budget --json` (ledger queries, `budget_statuses`), so they are identical.

A period's figures are read through the ledger's `ts` index, lists are paged by primary key; "all" periods
and the A/B report (by `variant`, which no index covers) read every row: `bench/dashboard_pages.py` measures
each page. None returns prompt text or keys: the ledger holds neither, and config files are shown through
`redact`."""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..config.loader import ConfigInvalid, Settings, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..ledger import queries
from ..ledger.ab_report import ab_report
from ..ledger.budgets import period_window
from ..ledger.clock import local_now
from ..ledger.pricing import PriceBook, cost
from ..ledger.queries import GroupBy, UsageRow
from ..ledger.records import TokenUsage
from ..ledger.schema import connect
from ..ledger.store import Ledger
from ..pipeline.router import ModelChoice
from ..proxy.budget_view import budget_statuses
from ..proxy.subscription import describe_window, latest_report, window_label
from .redact import redact

__all__ = [
    "Reader",
    "ab_page",
    "config_page",
    "health_page",
    "now_page",
    "requests_after",
    "requests_page",
    "routing_page",
    "set_model",
    "spend_page",
]

PERIODS = {"today": "day", "week": "week", "month": "month"}
GROUPS: tuple[GroupBy, ...] = ("model", "rule", "user", "project")
_REQUEST_FIELDS = (
    "id, ts, session_id, label, requested_model, routed_model, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_5m_tokens + cache_write_1h_tokens, cost_usd, latency_ms, ttfb_ms, outcome, "
    "cached, retried, fallback, user, project"
)
MAX_PAGE = 200


class Reader:
    """One read connection per thread on the ledger file (the dashboard's queries run in worker threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, busy_timeout=5.0)
        return conn


def _row(row: UsageRow, with_key: bool) -> dict[str, Any]:
    data = asdict(row)
    if not with_key:
        data.pop("key")
    data["cost_usd"] = round(data["cost_usd"], 6)  # as `usage --json`
    return data


def period_bounds(
    period: str, since: str | None = None, until: str | None = None
) -> tuple[float | None, float | None]:
    """`today|week|month|all` as `usage --period`, or `custom` from local dates `since`..`until` (inclusive)."""
    now = local_now()
    if period == "custom":
        tz = now.tzinfo
        start = datetime.fromisoformat(since or now.date().isoformat()).replace(tzinfo=tz)
        end = datetime.fromisoformat(until or now.date().isoformat()).replace(tzinfo=tz) + timedelta(days=1)
        return start.timestamp(), end.timestamp()
    if period == "all":
        return None, None
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r} (today, week, month, all or custom)")
    return period_window(PERIODS[period], now).start.timestamp(), None  # type: ignore[arg-type]


def _request(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        rid,
        ts,
        session,
        rule,
        requested,
        routed,
        inp,
        out,
        cread,
        cwrite,
        usd,
        latency,
        ttfb,
        outcome,
        cached,
        retried,
        fallback,
        user,
        project,
    ) = row
    return {
        "id": rid,
        "ts": ts,
        "session": session,
        "rule": rule,
        "requested_model": requested,
        "routed_model": routed,
        "tokens": {"input": inp, "output": out, "cache_read": cread, "cache_write": cwrite},
        "cost_usd": usd,
        "latency_ms": latency,
        "ttfb_ms": ttfb,
        "outcome": outcome,
        "cached": bool(cached),
        "retried": int(retried),
        "fallback": bool(fallback),
        "user": user,
        "project": project,
    }


def requests_page(reader: Reader, before: int | None = None, limit: int = 50) -> dict[str, Any]:
    """The latest requests, newest first, `limit` at a time; `before` pages back (by primary key)."""
    limit = max(1, min(limit, MAX_PAGE))
    sql = f"SELECT {_REQUEST_FIELDS} FROM requests"
    params: list[object] = []
    if before is not None:
        sql += " WHERE id < ?"
        params.append(before)
    rows = [_request(r) for r in reader.conn().execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))]
    return {"requests": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None}


def requests_after(reader: Reader, after: int, limit: int = 100) -> list[dict[str, Any]]:
    sql = f"SELECT {_REQUEST_FIELDS} FROM requests WHERE id > ? ORDER BY id LIMIT ?"
    return [_request(r) for r in reader.conn().execute(sql, (after, limit))]


def last_ids(reader: Reader) -> tuple[int, int]:
    conn = reader.conn()
    request = conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0]
    event = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    return int(request), int(event)


def switchable(settings: Settings) -> list[str]:
    return [name for name in settings.litellm.model_names() if "*" not in name]


def now_page(
    paths: ConfigPaths, settings: Settings, ledger: Ledger, reader: Reader, proxy_status: dict[str, Any]
) -> dict[str, Any]:
    moment = local_now()
    today = ledger.usage(period_window("day", moment).start.timestamp())
    month = ledger.usage(period_window("month", moment).start.timestamp())
    health = ledger.provider_health()
    choice = OverrideFile(paths.model_override_file).read()
    return {
        "proxy": proxy_status,
        "health": {"state": health.state, "reason": health.reason},
        "model": {
            "current": None if choice is None else {"model": choice.model, "force_all": choice.force_all},
            "models": switchable(settings),
        },
        "today": _row(today.total, False),
        "month": _row(month.total, False),
        "budgets": _budgets(settings, ledger),
        "subscription": _subscription(paths),
        "latest": requests_page(reader, None, 25),
    }


def _budgets(settings: Settings, ledger: Ledger) -> list[dict[str, Any]]:
    """Each budget as `budget --json` shows it, plus its period's bounds (`period_start`, `period_end`,
    unix seconds; no end for `total`) and `now`, to draw the burn-rate forecast against the period."""
    moment = local_now()
    out = []
    for status in budget_statuses(settings, ledger, lambda: moment):
        window = period_window(status.period, moment)
        out.append(
            {
                **status.to_json(),
                "period_start": window.start.timestamp(),
                "period_end": window.end.timestamp() if window.end else None,
                "now": moment.timestamp(),
            }
        )
    return out


def _subscription(paths: ConfigPaths) -> dict[str, Any] | None:
    """`status --json`'s `subscription`, each window with `label` and `text` as `ccproxy status` prints it."""
    report = latest_report(paths.subscription_file)
    if report is None:
        return None
    for name, window in report["windows"].items():
        window["label"] = window_label(name)
        window["text"] = describe_window(name, window)
    return report


def set_model(paths: ConfigPaths, settings: Settings, model: str | None, force_all: bool) -> dict[str, Any]:
    """What `ccproxy model use NAME [--all]` / `model auto` do, to the same file. Raises ValueError."""
    override = OverrideFile(paths.model_override_file)
    if model is None:
        override.write(None)
        return {"current": None}
    models = switchable(settings)
    if model not in models:
        raise ValueError(f"no model named {model!r} in config.yaml (models: {', '.join(models)})")
    override.write(ModelChoice(model, force_all=force_all))
    return {"current": {"model": model, "force_all": force_all}}


def _daily(
    conn: sqlite3.Connection, since: float | None, until: float | None, column: str
) -> list[list[Any]]:
    """Known cost per local day and `column` value in the window, through the ts index."""
    where, window = queries._window(since, until)
    first = conn.execute(f"SELECT min(ts), max(ts) FROM requests {where}", window).fetchone()
    if first[0] is None:
        return []
    tz = local_now().tzinfo
    assert tz is not None
    days = queries._local_days(float(first[0]), min(float(first[1]), float(first[0]) + 3660 * 86400), tz)
    out: list[list[Any]] = []
    for day, start, stop in days:
        lo = max(start, since) if since is not None else start
        hi = min(stop, until) if until is not None else stop
        sql = (
            f"SELECT {column} AS k, total(cost_usd), count(*) FROM requests WHERE ts >= ? AND ts < ? "
            "GROUP BY k ORDER BY k"
        )
        for key, usd, n in conn.execute(sql, (lo, hi)):
            out.append([day.isoformat(), str(key), round(float(usd), 6), int(n)])
    return out


def spend_page(
    settings: Settings,
    ledger: Ledger,
    reader: Reader,
    period: str,
    by: str,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r} (model, rule, user or project)")
    lo, hi = period_bounds(period, since, until)
    group: GroupBy = by
    report = ledger.usage(lo, hi, group)
    sessions = ledger.usage(lo, hi, "session")
    return {
        "period": period,
        "by": by,
        "total": _row(report.total, False),
        "groups": [_row(g, True) for g in report.groups],
        "days": _daily(reader.conn(), lo, hi, queries._GROUP_COLUMNS[group]),
        "top_sessions": [_row(g, True) for g in sessions.groups[:20]],
        "budgets": _budgets(settings, ledger),
        "unknown_cost_models": ledger.unknown_cost_models(lo or 0.0),
    }


def routing_page(
    settings: Settings, prices: PriceBook, reader: Reader, period: str, deployments: Any = None
) -> dict[str, Any]:
    """Requests and cost per rule, and what the same tokens would have cost at the requested model."""
    lo, hi = period_bounds(period)
    where, window = queries._window(lo, hi)
    sql = (
        "SELECT label, requested_model, routed_model, provider_model, count(*), total(cost_usd), "
        "count(*) - count(cost_usd), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
        f"sum(cache_write_5m_tokens), sum(cache_write_1h_tokens) FROM requests {where} "
        "GROUP BY label, requested_model, routed_model, provider_model"
    )
    rules: dict[str, dict[str, Any]] = {}
    for label, requested, routed, _provider, n, usd, unknown, i, o, cr, c5, c1 in reader.conn().execute(
        sql, window
    ):
        rule = rules.setdefault(
            label,
            {
                "rule": label,
                "requests": 0,
                "cost_usd": 0.0,
                "unknown_cost_requests": 0,
                "as_requested_usd": 0.0,
                "unpriced_requests": 0,
                "routes": [],
            },
        )
        rule["requests"] += n
        rule["cost_usd"] += usd
        rule["unknown_cost_requests"] += unknown
        target = _provider_model(deployments, requested)
        price = prices.price_for(requested, target)
        if price is None or unknown:
            rule["unpriced_requests"] += n
            alt = None
        else:
            alt = cost(TokenUsage(int(i or 0), int(o or 0), int(cr or 0), int(c5 or 0), int(c1 or 0)), price)
            rule["as_requested_usd"] += alt
        rule["routes"].append(
            {
                "requested_model": requested,
                "routed_model": routed,
                "requests": n,
                "cost_usd": round(usd, 6),
                "as_requested_usd": None if alt is None else round(alt, 6),
            }
        )
    out = sorted(rules.values(), key=lambda r: (-r["requests"], r["rule"]))
    for rule in out:
        priced_cost = sum(r["cost_usd"] for r in rule["routes"] if r["as_requested_usd"] is not None)
        rule["saved_usd"] = round(rule["as_requested_usd"] - priced_cost, 6)
        rule["cost_usd"] = round(rule["cost_usd"], 6)
        rule["as_requested_usd"] = round(rule["as_requested_usd"], 6)
    return {"period": period, "rules": out, "saved_usd": round(math.fsum(r["saved_usd"] for r in out), 6)}


def _provider_model(deployments: Any, model: str) -> str:
    if deployments is not None:
        deployment = deployments.pick(model)
        if deployment is not None:
            return str(deployment.ledger_model)
    return model


def ab_page(settings: Settings, reader: Reader) -> dict[str, Any]:
    return {"tests": [ab_report(reader.conn(), t).to_json() for t in settings.ccproxy.ab_tests]}


def _rank(values: list[float], p: int) -> float | None:
    """The nearest-rank percentile `p` of ascending `values`: the value at rank ceil(p/100 * n), as
    `queries.health` computes it in SQL."""
    if not values:
        return None
    return float(values[math.ceil(p * len(values) / 100) - 1])


def health_page(reader: Reader, period: str) -> dict[str, Any]:
    """Requests, errors by kind and provider, latency percentiles overall and per model, in two reads of
    the window: one GROUP BY outcome and provider, one of the successful latencies (sorted here, once per
    model, rather than one sorted query per percentile)."""
    lo, hi = period_bounds(period)
    conn = reader.conn()
    where, window = queries._window(lo, hi)
    ok_where = f"{where} AND outcome = 'ok'" if where else "WHERE outcome = 'ok'"
    total = ok = 0
    merged: dict[tuple[str, str], int] = {}
    for outcome, provider_model, n in conn.execute(
        f"SELECT outcome, provider_model, count(*) FROM requests {where} GROUP BY outcome, provider_model",
        window,
    ):
        total += n
        if outcome == "ok":
            ok += n
            continue
        provider = provider_model.split("/", 1)[0] if "/" in provider_model else (provider_model or "?")
        merged[(outcome, provider)] = merged.get((outcome, provider), 0) + n
    everything: list[float] = []
    per_model: dict[str, list[float]] = {}
    for model, latency in conn.execute(f"SELECT routed_model, latency_ms FROM requests {ok_where}", window):
        everything.append(latency)
        per_model.setdefault(model, []).append(latency)
    everything.sort()
    by_model = []
    for model in sorted(per_model):
        values = sorted(per_model[model])
        by_model.append(
            {"model": model, "requests": len(values), "p50": _rank(values, 50), "p95": _rank(values, 95)}
        )
    return {
        "period": period,
        "requests": total,
        "succeeded": ok,
        "failed": total - ok,
        "errors": [
            {"outcome": o, "provider": p, "requests": n}
            for (o, p), n in sorted(merged.items(), key=lambda x: (-x[1], x[0]))
        ],
        "latency_ms": {f"p{p}": _rank(everything, p) for p in (50, 90, 95, 99)},
        "by_model": by_model,
    }


def config_page(paths: ConfigPaths, reader: Reader) -> dict[str, Any]:
    """Both files as they are on disk now (secret values hidden: `redact`), what validating them says
    (errors, or the warnings of a valid config, each with file:line), and the last 20 reloads and refusals."""
    files = []
    for path in (paths.ccproxy_yaml, paths.litellm_yaml):
        try:
            text = redact(path.read_text(encoding="utf-8"))
        except OSError as exc:
            text = f"(cannot read: {exc.strerror})"
        files.append({"path": str(path), "text": text})
    try:
        found = list(load_settings(paths).warnings)
    except ConfigInvalid as exc:
        found = list(exc.issues)
    issues = [
        {
            "file": str(i.file),
            "line": i.line,
            "key": i.key,
            "message": i.message,
            "severity": i.severity,
            "text": str(i),
        }
        for i in found
    ]
    conn = reader.conn()
    rows = conn.execute(
        "SELECT id, ts, kind, payload FROM events WHERE kind IN ('config_reloaded', 'config_error') "
        "ORDER BY id DESC LIMIT 20"
    ).fetchall()
    reloads = [{"id": r[0], "ts": r[1], "kind": r[2], "payload": queries._payload(r[3])} for r in rows]
    return {"files": files, "issues": issues, "reloads": reloads}
