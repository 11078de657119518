"""What the ledger answers: spend, usage reports, health, the daily chart, alerts and events, on known data.

Costs are binary fractions (0.5, 0.125...) so their sums are exact and compared with ==.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccproxy_desktop.ledger.queries import GroupBy, UsageRow
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger

MakeRecord = Callable[..., RequestRecord]
T = 1_700_000_000.0


def store(ledger: Ledger, records: list[RequestRecord]) -> None:
    for rec in records:
        ledger.record(rec)
    assert ledger.flush(), ledger.last_error


# -- usage -----------------------------------------------------------------------------------------------


@pytest.fixture
def usage_data(ledger: Ledger, make_record: MakeRecord) -> Ledger:
    store(
        ledger,
        [
            make_record(
                routed_model="sonnet",
                label="default",
                user="alice",
                session_id="s1",
                usage=TokenUsage(100, 10, 1000, 50, 5),
                cost_usd=0.5,
            ),
            make_record(
                routed_model="sonnet",
                label="think",
                user="bob",
                session_id="s1",
                usage=TokenUsage(200, 20),
                cost_usd=0.25,
            ),
            make_record(
                routed_model="opus",
                label="think",
                user="alice",
                session_id="s2",
                usage=TokenUsage(300, 30, 2000, 100, 10),
                cost_usd=2.0,
            ),
            make_record(
                routed_model="haiku",
                label="background",
                user=None,
                session_id=None,
                usage=TokenUsage(400, 40),
                cost_usd=0.125,
            ),
            make_record(
                routed_model="local",
                label="background",
                user=None,
                session_id="s2",
                usage=TokenUsage(500, 50),
                cost_usd=None,
            ),
            make_record(
                ts=T - 1, routed_model="sonnet", usage=TokenUsage(9999, 9999), cost_usd=64.0
            ),  # too old
        ],
    )
    return ledger


USAGE_TOTAL = UsageRow(None, 5, 1500, 150, 3000, 165, 2.875, 1)


@pytest.mark.parametrize(
    ("group_by", "groups"),
    [
        (None, []),
        (
            "model",
            [
                UsageRow("opus", 1, 300, 30, 2000, 110, 2.0, 0),
                UsageRow("sonnet", 2, 300, 30, 1000, 55, 0.75, 0),
                UsageRow("haiku", 1, 400, 40, 0, 0, 0.125, 0),
                UsageRow("local", 1, 500, 50, 0, 0, 0.0, 1),
            ],
        ),
        (
            "rule",
            [
                UsageRow("think", 2, 500, 50, 2000, 110, 2.25, 0),
                UsageRow("default", 1, 100, 10, 1000, 55, 0.5, 0),
                UsageRow("background", 2, 900, 90, 0, 0, 0.125, 1),
            ],
        ),
        (
            "user",
            [
                UsageRow("alice", 2, 400, 40, 3000, 165, 2.5, 0),
                UsageRow("bob", 1, 200, 20, 0, 0, 0.25, 0),
                UsageRow("(none)", 2, 900, 90, 0, 0, 0.125, 1),
            ],
        ),
        (
            "session",
            [
                UsageRow("s2", 2, 800, 80, 2000, 110, 2.0, 1),
                UsageRow("s1", 2, 300, 30, 1000, 55, 0.75, 0),
                UsageRow("(none)", 1, 400, 40, 0, 0, 0.125, 0),
            ],
        ),
    ],
)
def test_usage_groups(usage_data: Ledger, group_by: GroupBy | None, groups: list[UsageRow]) -> None:
    report = usage_data.usage(since=T, group_by=group_by)
    assert report.total == USAGE_TOTAL
    assert report.groups == groups


def test_usage_window_bounds(usage_data: Ledger) -> None:
    assert usage_data.usage(since=None).total.requests == 6
    assert usage_data.usage(since=None, until=T).total == UsageRow(None, 1, 9999, 9999, 0, 0, 64.0, 0)
    assert usage_data.usage(since=T + 1).total == UsageRow(None, 0, 0, 0, 0, 0, 0.0, 0)
    assert usage_data.usage(since=T + 1, group_by="model").groups == []


# -- spend -----------------------------------------------------------------------------------------------


@pytest.fixture
def spend_data(ledger: Ledger, make_record: MakeRecord) -> Ledger:
    store(
        ledger,
        [
            make_record(
                ts=T, routed_model="sonnet", requested_model="claude-sonnet", user="alice", cost_usd=1.0
            ),
            make_record(
                ts=T + 10, routed_model="opus", requested_model="claude-opus", user="bob", cost_usd=2.0
            ),
            make_record(
                ts=T + 20, routed_model="haiku", requested_model="sonnet", user="alice", cost_usd=4.0
            ),
            make_record(ts=T + 30, routed_model="sonnet", user=None, cost_usd=None),
            make_record(ts=T + 40, routed_model="sonnet", user="bob", cost_usd=8.0),
        ],
    )
    return ledger


@pytest.mark.parametrize(
    ("since", "until", "model", "user", "expected"),
    [
        (T, None, None, None, 15.0),
        (T + 10, None, None, None, 14.0),
        (T, T + 40, None, None, 7.0),  # until is exclusive
        (T + 50, None, None, None, 0.0),
        (T, None, "sonnet", None, 13.0),  # routed sonnet, or asked for sonnet and routed to haiku
        (T, None, "opus", None, 2.0),
        (T, None, "claude-opus", None, 2.0),  # the requested name matches too
        (T, None, "gpt-4o", None, 0.0),
        (T, None, None, "alice", 5.0),
        (T, None, "sonnet", "bob", 8.0),
        (T + 1, T + 40, "sonnet", "alice", 4.0),
    ],
)
def test_spend(
    spend_data: Ledger,
    since: float,
    until: float | None,
    model: str | None,
    user: str | None,
    expected: float,
) -> None:
    assert spend_data.spend(since, until, model=model, user=user) == expected


def test_unknown_cost_is_null_not_zero(ledger: Ledger, ledger_path: Path, make_record: MakeRecord) -> None:
    store(
        ledger,
        [
            make_record(ts=T, routed_model="local", cost_usd=None),
            make_record(ts=T + 5, routed_model="sonnet", cost_usd=0.0),
            make_record(ts=T + 10, routed_model="mystery", cost_usd=None),
        ],
    )
    rows = sqlite3.connect(ledger_path).execute("SELECT routed_model, cost_usd FROM requests ORDER BY ts")
    assert rows.fetchall() == [("local", None), ("sonnet", 0.0), ("mystery", None)]
    assert ledger.unknown_cost_models(T) == ["local", "mystery"]
    assert ledger.unknown_cost_models(T + 1) == ["mystery"]
    assert ledger.spend(T) == 0.0
    assert ledger.usage(T).total.unknown_cost_requests == 2


# -- writes that repeat ----------------------------------------------------------------------------------


def test_a_repeated_request_id_counts_once(ledger: Ledger, make_record: MakeRecord) -> None:
    store(ledger, [make_record(request_id="r", cost_usd=1.0), make_record(request_id="r", cost_usd=5.0)])
    store(ledger, [make_record(request_id="r", cost_usd=9.0)])  # a retry after the first was committed
    assert ledger.count() == 1
    assert ledger.spend(0) == 1.0


# -- health ----------------------------------------------------------------------------------------------


def test_health_counts_and_percentiles(ledger: Ledger, make_record: MakeRecord) -> None:
    latencies = list(range(1, 101))
    random.Random(3).shuffle(latencies)
    ok = [
        make_record(ts=T + i, latency_ms=float(ms), routed_model="opus" if ms % 4 == 0 else "sonnet")
        for i, ms in enumerate(latencies)
    ]
    failed = [make_record(ts=T + 200, latency_ms=60_000.0, outcome="error:APITimeoutError", label="think")]
    refused = [make_record(ts=T + 201, latency_ms=0.0, outcome="refused", label="think")]
    older = [make_record(ts=T - 100 + i, latency_ms=0.5) for i in range(10)]
    store(ledger, ok + failed + refused + older)

    recent = ledger.health(since=T)
    assert (recent.requests_total, recent.requests_succeeded, recent.requests_failed) == (102, 100, 2)
    assert recent.by_model == {"opus": 25, "sonnet": 77}
    assert recent.by_rule == {"default": 100, "think": 2}
    assert (recent.latency_p50_ms, recent.latency_p95_ms) == (50.0, 95.0)  # failures' latency left out
    assert recent.first_ts == T

    everything = ledger.health()
    assert everything.requests_total == 112
    assert (everything.latency_p50_ms, everything.latency_p95_ms) == (45.0, 95.0)  # 10 x 0.5 ms in front
    assert everything.first_ts == T - 100


def test_health_counts_response_cache_hits(ledger: Ledger, make_record: MakeRecord) -> None:
    hits = [make_record(ts=T + i, cached=True, cost_usd=0.0) for i in range(3)]
    misses = [make_record(ts=T + 10 + i) for i in range(5)]
    failed_hit = [make_record(ts=T + 20, cached=True, outcome="error:APIError")]
    store(ledger, hits + misses + failed_hit)
    assert ledger.health(since=T).cache_hits == 3
    assert ledger.health(since=T + 10).cache_hits == 0  # a failed request is never a hit


def test_health_of_an_empty_window(ledger: Ledger) -> None:
    snapshot = ledger.health(since=T)
    assert (snapshot.requests_total, snapshot.requests_succeeded, snapshot.requests_failed) == (0, 0, 0)
    assert snapshot.by_model == snapshot.by_rule == {}
    assert snapshot.latency_p50_ms is snapshot.latency_p95_ms is snapshot.first_ts is None


def test_provider_health_reads_the_latest_requests_of_the_last_two_minutes(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    # the `ledger` fixture's clock says T: requests older than T - 120 s do not count
    stale = [make_record(ts=T - 300 + i, outcome="error:Timeout") for i in range(5)]
    store(ledger, stale)
    assert ledger.provider_health().state == "ok"

    burst = [make_record(ts=T - 10 + i, outcome="error:InternalServerError") for i in range(3)]
    store(ledger, burst)
    degraded = ledger.provider_health()
    assert (degraded.state, degraded.recent_requests, degraded.recent_failures) == ("degraded", 3, 3)

    store(ledger, [make_record(ts=T - 5 + i * 0.1) for i in range(4)])
    assert ledger.provider_health().state == "ok"  # 3 failures of the latest 7


# -- daily chart -----------------------------------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")


def local_ts(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).timestamp()


def test_daily_spend_buckets_by_local_day(ledger: Ledger, make_record: MakeRecord) -> None:
    # 2024-03-10 is the 23-hour day when New York moves its clocks forward.
    store(
        ledger,
        [
            make_record(ts=local_ts(2024, 3, 9, 23, 30), routed_model="sonnet", cost_usd=1.0),
            make_record(ts=local_ts(2024, 3, 10, 0, 30), routed_model="sonnet", cost_usd=2.0),
            make_record(ts=local_ts(2024, 3, 10, 23, 30), routed_model="opus", cost_usd=4.0),
            make_record(ts=local_ts(2024, 3, 10, 23, 45), routed_model="local", cost_usd=None),
            make_record(ts=local_ts(2024, 3, 11, 0, 15), routed_model="sonnet", cost_usd=8.0),
        ],
    )
    assert ledger.daily_spend_by_model(0, NEW_YORK) == [
        (date(2024, 3, 9), "sonnet", 1.0),
        (date(2024, 3, 10), "opus", 4.0),
        (date(2024, 3, 10), "sonnet", 2.0),
        (date(2024, 3, 11), "sonnet", 8.0),
    ]
    assert ledger.daily_spend_by_model(0, ZoneInfo("UTC")) == [
        (date(2024, 3, 10), "sonnet", 3.0),
        (date(2024, 3, 11), "opus", 4.0),
        (date(2024, 3, 11), "sonnet", 8.0),
    ]
    assert ledger.daily_spend_by_model(local_ts(2024, 3, 10, 0, 0), NEW_YORK)[0] == (
        date(2024, 3, 10),
        "opus",
        4.0,
    )
    assert ledger.daily_spend_by_model(local_ts(2024, 3, 12, 0, 0), NEW_YORK) == []


# -- alerts and events -----------------------------------------------------------------------------------


def test_claim_alert_fires_once_and_stores_its_event(ledger: Ledger) -> None:
    payload: dict[str, object] = {"budget": "daily", "fraction": 0.75, "spent_usd": 7.5}
    assert ledger.claim_alert("daily", "2024-03-10", 0.75, payload) is True
    assert ledger.claim_alert("daily", "2024-03-10", 0.75, {"again": True}) is False
    assert ledger.claim_alert("daily", "2024-03-10", 0.5, {}) is True
    assert ledger.claim_alert("daily", "2024-03-11", 0.75, {}) is True
    assert ledger.claim_alert("monthly", "2024-03", 0.75, {}) is True
    assert ledger.alerts_sent("daily", "2024-03-10") == [0.5, 0.75]
    assert ledger.alerts_sent("daily", "2024-03-12") == []
    alerts = ledger.events(kinds=["budget_alert"])
    assert len(alerts) == 4
    assert alerts[0].payload == payload


def test_claim_alert_race_between_threads(ledger_path: Path) -> None:
    keys = 50
    threads = 8
    barrier = threading.Barrier(threads)
    wins: Counter[int] = Counter()
    lock = threading.Lock()
    with Ledger(ledger_path) as ledger:

        def claim_all() -> None:
            barrier.wait(timeout=10)
            mine = [i for i in range(keys) if ledger.claim_alert("daily", f"p{i}", 1.0, {"i": i})]
            with lock:
                wins.update(mine)

        pool = [threading.Thread(target=claim_all) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=30)
        assert wins == Counter(range(keys))  # every key won exactly once
        assert len(ledger.events(kinds={"budget_alert"})) == keys


def test_events_round_trip(ledger_path: Path) -> None:
    now = [100.0]
    with Ledger(ledger_path, clock=lambda: now[0]) as ledger:
        first = ledger.add_event("credential_failure", {"provider": "anthropic", "detail": {"status": 401}})
        now[0] = 200.0
        second = ledger.add_event("proxy_health", {"ok": False, "codes": [500, 502]})
        third = ledger.add_event("credential_failure", {})
        assert first < second < third
        events = ledger.events()
        assert [(e.id, e.ts, e.kind) for e in events] == [
            (first, 100.0, "credential_failure"),
            (second, 200.0, "proxy_health"),
            (third, 200.0, "credential_failure"),
        ]
        assert events[0].payload == {"provider": "anthropic", "detail": {"status": 401}}
        assert [e.id for e in ledger.events(after_id=first)] == [second, third]
        assert [e.id for e in ledger.events(kinds=["credential_failure"])] == [first, third]
        assert ledger.events(kinds=[]) == []


# -- against a reference model ---------------------------------------------------------------------------

MODELS = ["sonnet", "opus", "haiku"]
USERS = [None, "alice", "bob"]
COSTS = [None, 0.0, 0.125, 0.5, 1.0, 3.25]


@st.composite
def record_lists(draw: st.DrawFn) -> list[RequestRecord]:
    n = draw(st.integers(0, 30))
    return [
        RequestRecord(
            request_id=f"r{i}",
            ts=T + draw(st.integers(0, 20)),
            label="default",
            requested_model=draw(st.sampled_from(MODELS)),
            routed_model=draw(st.sampled_from(MODELS)),
            provider_model="p",
            usage=TokenUsage(input=draw(st.integers(0, 10**6)), output=draw(st.integers(0, 10**4))),
            cost_usd=draw(st.sampled_from(COSTS)),
            user=draw(st.sampled_from(USERS)),
        )
        for i in range(n)
    ]


@settings(max_examples=25, deadline=None)
@given(
    records=record_lists(),
    since=st.integers(0, 20),
    length=st.integers(0, 20),
    model=st.sampled_from([None, *MODELS]),
    user=st.sampled_from(USERS),
)
def test_queries_agree_with_a_python_reference(
    records: list[RequestRecord], since: int, length: int, model: str | None, user: str | None
) -> None:
    start, stop = T + since, T + since + length
    in_window = [r for r in records if start <= r.ts < stop]
    scoped = [
        r
        for r in in_window
        if (model is None or model in (r.routed_model, r.requested_model))
        and (user is None or r.user == user)
    ]
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "ledger.db") as ledger:
        store(ledger, records)
        assert ledger.spend(start, stop, model=model, user=user) == sum(r.cost_usd or 0.0 for r in scoped)
        report = ledger.usage(start, stop, group_by="model")
        by_model: Counter[str] = Counter(r.routed_model for r in in_window)
        assert {g.key: g.requests for g in report.groups} == by_model
        assert report.total.input_tokens == sum(r.usage.input for r in in_window)
        costs = [g.cost_usd for g in report.groups]
        assert costs == sorted(costs, reverse=True)
