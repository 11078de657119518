"""What each dashboard page costs on a ledger of 100,000 requests.

Run: ``python bench/dashboard_pages.py [--rows N] [--runs R] [--plans]``. Files go to a temporary folder.

The ledger is filled through ``Ledger.record()`` (the proxy's own writer) with N requests spread over the 30
days before now (5 models, 4 rules, 10 users, 6 projects, 500 sessions, 3% errors, 2% unpriced, an eighth of
them in an A/B test), so "month" holds the days of this month so far and "all" every row. Then, for each
page's data function in ``ccproxy_desktop/dashboard/data.py`` (what one ``api/<page>`` answer computes), R
runs interleaved with R runs of a baseline over the same window, ``ledger.usage(<period>)`` (what ``ccproxy
usage --period <period>`` reads), in this process: the median of each and the ratio. ``--plans`` prints
SQLite's plan of every statement the pages run (``EXPLAIN QUERY PLAN``), marking full scans of the table.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.dashboard import data
from ccproxy_desktop.ledger.budgets import period_window
from ccproxy_desktop.ledger.clock import local_now
from ccproxy_desktop.ledger.pricing import PriceBook
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.proxy.accounting import litellm_price_lookup
from ccproxy_desktop.testing.configs import write_fake_config

DAY = 86_400.0
DAYS = 30
MODELS = ["default", "think", "background", "token_count", "web_search"]
LABELS = ["default", "think", "background", "token_count"]
REQUESTED = ["claude-sonnet-5", "claude-opus-4-8", "claude-haiku-4-5-20251001"]
PROVIDER = {
    "default": "anthropic/claude-sonnet-5",
    "think": "anthropic/claude-opus-4-8",
    "background": "anthropic/claude-haiku-4-5-20251001",
    "token_count": "anthropic/claude-sonnet-5-1m",
    "web_search": "openai/gpt-4o-search-preview",
}
USERS = [None, *(f"user{i}" for i in range(9))]
PROJECTS = [None, "api", "web", "docs", "infra", "tools"]
AB_TEST = {
    "name": "think-vs-default",
    "label": "think",
    "variants": [{"model": "think"}, {"model": "default"}],
}
CCPROXY: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "default_model_passthrough": True,
    "rules": [
        {"name": "token_count", "rule": "TokenCountRule", "params": [{"threshold": 60000}]},
        {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]},
        {"name": "think", "rule": "ThinkingRule"},
    ],
    "budgets": [
        {"name": "daily", "limit_usd": 400.0, "period": "day"},
        {"name": "monthly", "limit_usd": 9000.0, "period": "month"},
        {"name": "think-weekly", "limit_usd": 2000.0, "period": "week", "model": "think"},
        {"name": "api-monthly", "limit_usd": 2000.0, "period": "month", "project": "api"},
    ],
    "ab_tests": [AB_TEST],
}


def make_records(n: int, now: float, seed: int = 13) -> list[RequestRecord]:
    """N requests, oldest first, spread evenly over the DAYS days before `now`."""
    rng = random.Random(seed)
    start = now - DAYS * DAY
    step = DAYS * DAY / n
    records = []
    for i in range(n):
        label = rng.choice(LABELS)
        routed = label if label != "default" or rng.random() < 0.8 else "web_search"
        variant = None
        if label == "think" and rng.random() < 0.5:
            routed = rng.choice(["think", "default"])
            variant = f"{AB_TEST['name']}:{routed}"
        ok = rng.random() >= 0.03
        records.append(
            RequestRecord(
                request_id=f"bench-{i:08d}",
                ts=start + i * step,
                label=label,
                requested_model=rng.choice(REQUESTED),
                routed_model=routed,
                provider_model=PROVIDER[routed],
                usage=TokenUsage(
                    input=rng.randint(10, 5_000),
                    output=rng.randint(10, 2_000),
                    cache_read=rng.randint(0, 100_000),
                    cache_write_5m=rng.randint(0, 5_000),
                )
                if ok
                else TokenUsage(),
                cost_usd=None if rng.random() < 0.02 else (rng.uniform(0.001, 0.5) if ok else 0.0),
                latency_ms=rng.lognormvariate(7, 0.6),
                ttfb_ms=rng.uniform(100, 900),
                outcome="ok" if ok else rng.choice(["error:RateLimitError", "error:APIConnectionError"]),
                stream=True,
                session_id=f"session-{rng.randint(0, 499):03d}",
                user=rng.choice(USERS),
                cached=rng.random() < 0.01,
                retried=1 if rng.random() < 0.02 else 0,
                variant=variant,
                project=rng.choice(PROJECTS),
                agent="main",
            )
        )
    return records


def fill(paths: ConfigPaths, rows: int) -> float:
    """Write `rows` requests through the ledger's writer; seconds it took."""
    records = make_records(rows, time.time())
    started = time.perf_counter()
    with Ledger(paths.ledger_db) as ledger:
        for record in records:
            ledger.record(record)
        if not ledger.flush(timeout=600):
            raise SystemExit(f"the ledger did not take the rows: {ledger.last_error}")
        ledger.add_event("config_reloaded", {"models_changed": False})
    return time.perf_counter() - started


Page = tuple[str, str, Callable[[], object]]
"""A page's name, the `usage --period` its figures cover (the baseline's window), and its data function."""


def pages(paths: ConfigPaths, ledger: Ledger, reader: data.Reader) -> list[Page]:
    settings = load_settings(paths)
    prices = PriceBook(settings.ccproxy.pricing, litellm_price_lookup)
    status = {"pid": 0, "ledger": {"pending": 0, "last_error": None}}
    newest = data.last_ids(reader)[0]
    return [
        ("Now", "month", lambda: data.now_page(paths, settings, ledger, reader, status)),
        ("Now: SSE poll (1 new row)", "today", lambda: data.requests_after(reader, newest - 1)),
        ("Now: older requests (50)", "today", lambda: data.requests_page(reader, newest // 2, 50)),
        (
            "Spend, month, by model",
            "month",
            lambda: data.spend_page(settings, ledger, reader, "month", "model"),
        ),
        (
            "Spend, month, by project",
            "month",
            lambda: data.spend_page(settings, ledger, reader, "month", "project"),
        ),
        ("Spend, all, by model", "all", lambda: data.spend_page(settings, ledger, reader, "all", "model")),
        ("Routing, month", "month", lambda: data.routing_page(settings, prices, reader, "month")),
        ("Routing, all", "all", lambda: data.routing_page(settings, prices, reader, "all")),
        ("A/B tests (all time)", "all", lambda: data.ab_page(settings, reader)),
        ("Health, today", "today", lambda: data.health_page(reader, "today")),
        ("Health, month", "month", lambda: data.health_page(reader, "month")),
        ("Health, all", "all", lambda: data.health_page(reader, "all")),
        ("Config", "today", lambda: data.config_page(paths, reader)),
    ]


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1e3


def bench_pages(paths: ConfigPaths, runs: int) -> None:
    moment = local_now()
    since = {
        "today": period_window("day", moment).start.timestamp(),
        "month": period_window("month", moment).start.timestamp(),
        "all": None,
    }
    with Ledger(paths.ledger_db) as ledger:
        reader = data.Reader(paths.ledger_db)
        rows = {period: ledger.usage(start).total.requests for period, start in since.items()}
        print(
            f"{rows['all']:,} rows: {rows['month']:,} this month, {rows['today']:,} today; {runs} runs each, "
            "interleaved with the baseline `ledger.usage(<period>)` (`ccproxy usage --period <period>`); medians"
        )
        print(f"  {'page':28} {'ms':>8}   {'baseline':16} {'ms':>7} {'ratio':>7}")
        for name, period, page in pages(paths, ledger, reader):
            start = since[period]

            def baseline(start: float | None = start) -> object:
                return ledger.usage(start)

            page()  # once first: the page cache, the prices
            ours, base = [], []
            for _ in range(runs):  # interleaved, so the machine's noise hits both alike
                ours.append(timed(page))
                base.append(timed(baseline))
            mine, theirs = statistics.median(ours), statistics.median(base)
            print(
                f"  {name:28} {mine:8.2f}   usage({period}){'':{10 - len(period)}} {theirs:7.2f} {mine / theirs:6.1f}x"
            )


class _Tracer:
    """Collects each distinct SQL statement a page runs (sqlite3's trace callback), with its parameters."""

    def __init__(self) -> None:
        self.statements: dict[str, None] = {}

    def __call__(self, statement: str) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements[statement] = None


def print_plans(paths: ConfigPaths) -> None:
    """The query plan of every SELECT the pages run: a `SCAN requests` without an index is a full scan."""
    with Ledger(paths.ledger_db) as ledger:
        reader = data.Reader(paths.ledger_db)
        plans = sqlite3.connect(paths.ledger_db)
        for name, _period, page in pages(paths, ledger, reader):
            tracer = _Tracer()
            ledger.count()  # opens this thread's ledger connection
            connections = (reader.conn(), ledger._local.conn)  # the page's and the ledger's reader
            for conn in connections:
                conn.set_trace_callback(tracer)
            page()
            for conn in connections:
                conn.set_trace_callback(None)
            print(f"{name}:")
            for statement in tracer.statements:
                if "FROM requests" not in statement and "FROM events" not in statement:
                    continue
                detail = "; ".join(r[3] for r in plans.execute("EXPLAIN QUERY PLAN " + statement))
                full = ""
                if re.search(r"\bSCAN requests\b(?! USING)", detail):  # the table in rowid order
                    paged = re.search(r"ORDER BY id DESC LIMIT", statement)
                    full = " (newest first, stops at the LIMIT)" if paged else " (FULL SCAN)"
                print(f"  {' '.join(statement.split())[:110]}\n    -> {detail}{full}")
        plans.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plans", action="store_true", help="print each statement's query plan too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_fake_config(Path(tmp), "http://127.0.0.1:9", 4999, ccproxy=CCPROXY)
        seconds = fill(paths, args.rows)
        print(f"filled the ledger: {args.rows:,} rows through Ledger.record() in {seconds:.1f} s")
        if args.plans:
            print_plans(paths)
        bench_pages(paths, args.runs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
