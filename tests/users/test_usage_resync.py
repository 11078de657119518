"""Per-user totals re-read from a real ledger file: today, and the month as the days before plus today, as a
second proxy process (or one restarted) sees them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.ledger.pricing import PriceBook
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.proxy.accounting import Accounting
from ccproxy_desktop.testing.configs import write_fake_config
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.users.keys import hash_key

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN)


def row(n: int, when: datetime, user: str, tokens: int, usd: float) -> RequestRecord:
    return RequestRecord(
        request_id=f"r{n}",
        ts=when.timestamp(),
        label="default",
        requested_model="m",
        routed_model="m",
        provider_model="anthropic/m",
        usage=TokenUsage(input=tokens, cache_read=10**6),
        cost_usd=usd,
        user=user,
    )


def test_a_new_process_sees_each_users_day_and_month_from_the_ledger(tmp_path: Path) -> None:
    users = {
        "alice": {"key_hash": hash_key("a"), "daily_token_limit": 1000, "monthly_token_limit": 5000},
        "bob": {"key_hash": hash_key("b"), "monthly_cost_limit_usd": 2.0},
    }
    paths = write_fake_config(tmp_path, "http://127.0.0.1:9", 4000, ccproxy={"users": users})
    rows = [
        row(1, NOW - timedelta(days=40), "alice", 10**6, 100.0),  # last month: not counted
        row(2, NOW - timedelta(days=3), "alice", 3000, 1.0),
        row(3, NOW - timedelta(days=3), "bob", 10, 1.5),
        row(4, NOW - timedelta(hours=1), "alice", 900, 0.1),
        row(5, NOW - timedelta(hours=1), "bob", 10, 0.6),
        row(6, NOW - timedelta(hours=1), "carol", 10**6, 9.0),  # not a configured user
    ]
    with Ledger(paths.ledger_db) as ledger:
        for record in rows:
            ledger.record(record)
    accounting = Accounting(load_settings(paths), PriceBook({}, lambda _m: None), lambda: NOW)
    try:
        assert accounting.users.used("alice", "day") == (900, 0.1)
        assert accounting.users.used("alice", "month") == (3900, 1.1)
        assert accounting.users.exhausted("alice") is None
        hit = accounting.users.exhausted("bob")
        assert hit is not None and (hit.what, hit.period) == ("cost", "month")
        accounting.record(row(7, NOW, "alice", 100, 0.0))
        wait_for(lambda: accounting.users.exhausted("alice") is not None)  # the writer thread adds it
        hit = accounting.users.exhausted("alice")
        assert hit is not None and (hit.what, hit.period, hit.used) == ("tokens", "day", 1000)
        accounting.resync()
        assert accounting.users.used("alice", "month") == (4000, 1.1)
    finally:
        accounting.close()
