"""Write throughput and query cost of the SQLite usage ledger.

Run: ``python bench/ledger.py [--rows N]`` (default 100,000). Files go to a temporary folder.

* writes: N records through ``Ledger.record()`` then ``flush()`` (the writer thread's batches of 200, one
  transaction each), against a baseline of raw ``executemany`` of the same rows into the same schema in
  batches of 200 per transaction, in this process. Then, in a separate run, the caller's cost of each
  ``record()`` call (what the proxy's event loop pays) while the writer works: p50/p99/max.
* queries: on N rows spread over 30 days (5 models, 10 users, 2% unpriced), the p50 of ``spend`` for the
  last day with and without a model/user scope and for the month, ``usage(group_by="model")`` for the day
  and for all time, and ``health`` for the day and for all time. Then a resync of 5 budgets (the in-memory
  budget counters re-read from ``spend()``): day, day/model, week/user, month, month/model.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.schema import INSERT_REQUEST, connect, request_row, transaction
from ccproxy_desktop.ledger.store import Ledger

DAY = 86_400.0
NOW = 1_760_000_000.0
DAYS = 30
BATCH = 200
MODELS = ["sonnet", "opus", "haiku", "gpt-4o", "local"]
USERS = [f"user{i}" for i in range(10)]
LABELS = ["default", "think", "background", "token_count"]


def make_records(n: int, seed: int = 7) -> list[RequestRecord]:
    """N plausible records, oldest first, spread evenly over the last DAYS days before NOW."""
    rng = random.Random(seed)
    start = NOW - DAYS * DAY
    step = DAYS * DAY / n
    return [
        RequestRecord(
            request_id=f"req-{i:08d}",
            ts=start + i * step,
            label=rng.choice(LABELS),
            requested_model=f"claude-{rng.choice(MODELS)}",
            routed_model=rng.choice(MODELS),
            provider_model="anthropic/claude-sonnet-4-5",
            usage=TokenUsage(
                input=rng.randint(10, 5_000),
                output=rng.randint(10, 2_000),
                cache_read=rng.randint(0, 100_000),
                cache_write_5m=rng.randint(0, 5_000),
            ),
            cost_usd=None if rng.random() < 0.02 else rng.uniform(0.001, 0.5),
            latency_ms=rng.lognormvariate(7, 0.6),
            ttfb_ms=rng.uniform(100, 900),
            outcome="ok" if rng.random() < 0.97 else "error:RateLimitError",
            stream=True,
            session_id=f"s{rng.randint(0, 500)}",
            user=rng.choice(USERS),
        )
        for i in range(n)
    ]


def bench_ledger_writes(path: Path, records: list[RequestRecord]) -> float:
    """Seconds from the first record() to flush() returning."""
    with Ledger(path, batch_size=BATCH) as ledger:
        started = time.perf_counter()
        for rec in records:
            ledger.record(rec)
        if not ledger.flush(timeout=600):
            raise SystemExit(f"flush failed: {ledger.last_error}")
        elapsed = time.perf_counter() - started
        assert ledger.count() == len(records)
    return elapsed


def bench_record_calls(path: Path, records: list[RequestRecord]) -> list[float]:
    """The caller's cost of each record() in µs, sorted, while the writer thread commits in the background."""
    calls: list[float] = []
    clock = time.perf_counter
    with Ledger(path, batch_size=BATCH) as ledger:
        for rec in records:
            before = clock()
            ledger.record(rec)
            calls.append((clock() - before) * 1e6)
        ledger.flush(timeout=600)
    return sorted(calls)


def bench_raw_writes(path: Path, records: list[RequestRecord]) -> float:
    """Seconds for executemany of the same rows, BATCH per transaction, on one connection."""
    conn = connect(path, busy_timeout=5.0)
    started = time.perf_counter()
    for i in range(0, len(records), BATCH):
        with transaction(conn, write=True):
            conn.executemany(INSERT_REQUEST, map(request_row, records[i : i + BATCH]))
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def p50_ms(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def bench_queries(ledger: Ledger) -> None:
    day, week, month = NOW - DAY, NOW - 7 * DAY, NOW - DAYS * DAY
    cases: list[tuple[str, Callable[[], object], int]] = [
        ("spend(day)", lambda: ledger.spend(day), 200),
        ("spend(day, model=)", lambda: ledger.spend(day, model="opus"), 200),
        ("spend(day, user=)", lambda: ledger.spend(day, user="user3"), 200),
        ("spend(day, model=, user=)", lambda: ledger.spend(day, model="opus", user="user3"), 200),
        ("spend(month)", lambda: ledger.spend(month), 50),
        ("usage(day, group_by=model)", lambda: ledger.usage(day, group_by="model"), 100),
        ("usage(all, group_by=model)", lambda: ledger.usage(None, group_by="model"), 20),
        ("health(day)", lambda: ledger.health(day), 100),
        ("health(all)", lambda: ledger.health(), 20),
        ("daily_spend_by_model(month)", lambda: ledger.daily_spend_by_model(month, UTC), 20),
        ("unknown_cost_models(month)", lambda: ledger.unknown_cost_models(month), 50),
    ]
    for name, function, runs in cases:
        print(f"  {name:<30} p50 {p50_ms(function, runs):8.3f} ms")

    def resync() -> None:
        ledger.spend(day)
        ledger.spend(day, model="opus")
        ledger.spend(week, user="user3")
        ledger.spend(month)
        ledger.spend(month, model="sonnet")

    print(f"  {'resync of 5 budgets':<30} p50 {p50_ms(resync, 30):8.3f} ms")


def bench_budget_check(ledger: Ledger) -> None:
    """The per-request check in the proxy: blocking budgets against in-memory spend seeded from the ledger."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ccproxy_desktop.config.schema import BudgetSpec
    from ccproxy_desktop.ledger.budgets import BudgetTracker

    zone = ZoneInfo("UTC")
    budgets = [
        BudgetSpec(name="daily", limit_usd=50.0, period="day", block=True),
        BudgetSpec(name="opus-daily", limit_usd=20.0, period="day", model="opus", block=True),
        BudgetSpec(name="user3-weekly", limit_usd=100.0, period="week", user="user3", block=True),
        BudgetSpec(name="monthly", limit_usd=1000.0, period="month"),
        BudgetSpec(name="sonnet-monthly", limit_usd=500.0, period="month", model="sonnet", block=True),
    ]
    tracker = BudgetTracker(budgets, lambda: datetime.now(zone))
    day, week, month = NOW - DAY, NOW - 7 * DAY, NOW - DAYS * DAY
    tracker.seed(
        {
            "daily": ledger.spend(day),
            "opus-daily": ledger.spend(day, model="opus"),
            "user3-weekly": ledger.spend(week, user="user3"),
            "monthly": ledger.spend(month),
            "sonnet-monthly": ledger.spend(month, model="sonnet"),
        },
        {},
    )
    runs = 20_000
    check = [0.0] * runs
    baseline = [0.0] * runs
    for i in range(runs):  # interleaved so noise hits both alike
        start = time.perf_counter()
        tracker.blocking("opus", "user3")
        check[i] = time.perf_counter() - start
        start = time.perf_counter()
        len(budgets)
        baseline[i] = time.perf_counter() - start
    ours, empty = statistics.median(check) * 1e6, statistics.median(baseline) * 1e6
    print(f"per-request budget check (5 budgets, 4 blocking, seeded from {ledger.count():,} rows):")
    print(
        f"  tracker.blocking()           p50 {ours:8.2f} µs  p99 {sorted(check)[int(runs * 0.99)] * 1e6:8.2f} µs"
    )
    print(
        f"  empty call baseline          p50 {empty:8.2f} µs  (the check costs {ours - empty:.2f} µs; target < 200 µs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    records = make_records(rows)
    with tempfile.TemporaryDirectory() as tmp:
        ours = bench_ledger_writes(Path(tmp) / "ledger.db", records)
        raw = bench_raw_writes(Path(tmp) / "raw.db", records)
        calls = bench_record_calls(Path(tmp) / "calls.db", records)
        print(f"writes of {rows:,} rows, batches of {BATCH}:")
        print(f"  Ledger.record() + flush()   {rows / ours:10,.0f} rows/s  ({ours:.2f} s)")
        print(f"  raw executemany baseline    {rows / raw:10,.0f} rows/s  ({raw:.2f} s)")
        print(f"  ratio ours / baseline       {raw / ours:10.2f}")
        p99 = calls[int(len(calls) * 0.99)]
        print(
            f"  record() call: p50 {statistics.median(calls):.2f} µs  p99 {p99:.2f} µs  max {calls[-1]:.0f} µs"
        )
        print(f"queries on {rows:,} rows over {DAYS} days ({rows // DAYS:,} a day):")
        with Ledger(Path(tmp) / "ledger.db") as ledger:
            bench_queries(ledger)
            bench_budget_check(ledger)


if __name__ == "__main__":
    main()
