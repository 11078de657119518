"""What per-user limits cost a request, and what their re-sync costs the proxy.

Run: ``python bench/users.py [--rows N]`` (default 100,000). Files go to a temporary folder.

* admission (requests per minute): ``UserGate.admit`` as the handler calls it, i.e. ``Ledger.admit`` (one
  SQLite write transaction on the shared file) in a worker thread via ``asyncio.to_thread``, for 10 users
  at 1,000 requests per minute each, against the same thread hop around an empty function (the baseline a
  request pays for any off-loop work). p50/p99 in ms.
* the in-memory checks (``UserGate.check``: model patterns and token/cost limits) per request, p50 in µs.
* the re-sync of token/cost limits every 2 s: ``ledger.usage(group_by="user")`` for the day and the month on
  N rows over 30 days (the same rows as ``bench/ledger.py``), against the budgets' re-sync of one month
  ``spend()``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ledger import NOW, USERS, make_records

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.pricing import PriceBook
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.proxy.accounting import Accounting
from ccproxy_desktop.proxy.users import UserGate
from ccproxy_desktop.testing.configs import write_fake_config
from ccproxy_desktop.users.keys import hash_key

ADMISSIONS = 2000


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def bench_admission(gate: UserGate) -> None:
    def nothing() -> None:
        return None

    ours: list[float] = []
    base: list[float] = []
    for i in range(ADMISSIONS):  # interleaved, so both see the same machine noise
        start = time.perf_counter()
        await asyncio.to_thread(nothing)
        base.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        refusal = await gate.admit(USERS[i % len(USERS)])
        ours.append((time.perf_counter() - start) * 1000)
        assert refusal is None
    o50, o99 = percentiles(ours)
    b50, b99 = percentiles(base)
    print(f"admission (rpm, ledger write in a thread): p50 {o50:.3f} ms, p99 {o99:.3f} ms")
    print(f"baseline (empty to_thread):                p50 {b50:.3f} ms, p99 {b99:.3f} ms")
    print(f"admission minus baseline, p50:             {o50 - b50:.3f} ms")


def bench_check(gate: UserGate) -> None:
    runs = 20_000
    start = time.perf_counter()
    for i in range(runs):
        gate.check(USERS[i % len(USERS)], "claude-sonnet-4-5", "sonnet")
    print(
        f"in-memory check (models + token/cost limits): {(time.perf_counter() - start) / runs * 1e6:.2f} µs"
    )


def bench_resync(accounting: Accounting, ledger: Ledger) -> None:
    def p50(function: object, runs: int = 15) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            function()  # type: ignore[operator]
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    month_start = NOW - 30 * 86_400
    budget = p50(lambda: ledger.spend(month_start))
    users = p50(accounting.resync)
    print(f"re-sync of user limits (day + month usage by user): p50 {users:.1f} ms")
    print(f"baseline: one month budget spend():                 p50 {budget:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths: ConfigPaths = write_fake_config(
            Path(tmp),
            "http://127.0.0.1:9",
            4000,
            ccproxy={
                "users": {
                    name: {
                        "key_hash": hash_key(name),
                        "requests_per_minute": 1000,
                        "daily_token_limit": 10**12,
                        "monthly_cost_limit_usd": 10**9,
                        "blocked_models": ["*opus*", "gpt-*"],
                    }
                    for name in USERS
                }
            },
        )
        settings = load_settings(paths)
        seeded = Ledger(paths.ledger_db)
        for record in make_records(args.rows):
            seeded.record(record)
        seeded.close()
        # The records end at NOW; the clock says NOW so the day and month windows hold them.
        ledger = Ledger(paths.ledger_db, clock=lambda: NOW)
        now = datetime.fromtimestamp(NOW, UTC).astimezone()
        accounting = Accounting(settings, PriceBook({}, lambda _m: None), lambda: now, ledger=ledger)
        gate = UserGate(settings.ccproxy.users, accounting)
        print(f"{args.rows:,} rows, {len(USERS)} users")
        asyncio.run(bench_admission(gate))
        bench_check(gate)
        bench_resync(accounting, ledger)
        accounting.close()


if __name__ == "__main__":
    main()
