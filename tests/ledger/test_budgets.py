"""Budget periods, spend tracking, alerts, blocking and the burn-rate projection, with an injected clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccproxy_desktop.config.schema import BudgetSpec
from ccproxy_desktop.ledger.budgets import (
    AlertDue,
    BudgetTracker,
    Period,
    PeriodWindow,
    applies,
    period_window,
)
from ccproxy_desktop.ledger.records import RequestRecord

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")


class FakeClock:
    """A clock that moves only when told. Keeps a UTC instant, so advancing across DST changes is real time."""

    def __init__(self, start: datetime) -> None:
        self._instant = start.astimezone(UTC)
        self._tz = start.tzinfo

    def __call__(self) -> datetime:
        return self._instant.astimezone(self._tz)

    def advance(self, **delta: float) -> None:
        self._instant += timedelta(**delta)


def at(text: str, tz: ZoneInfo = BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def record(
    cost: float | None,
    *,
    model: str = "default",
    requested: str = "claude-sonnet-4-5",
    user: str | None = None,
) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        ts=0.0,
        label="default",
        requested_model=requested,
        routed_model=model,
        provider_model=f"anthropic/{model}",
        cost_usd=cost,
        user=user,
    )


def fractions(due: list[AlertDue]) -> list[float]:
    return [a.fraction for a in due]


DAILY = BudgetSpec(name="daily", limit_usd=10.0, period="day")


# --- period_window ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "now", "start", "end", "key"),
    [
        pytest.param(
            "day",
            at("2026-11-26T10:00"),
            at("2026-11-26T00:00"),
            at("2026-11-27T00:00"),
            "2026-11-26",
            id="day",
        ),
        pytest.param(
            "week",
            at("2026-11-26T10:00"),
            at("2026-11-23T00:00"),
            at("2026-11-30T00:00"),
            "2026-W48",
            id="week",
        ),
        pytest.param(
            "week",
            at("2026-11-23T00:00"),
            at("2026-11-23T00:00"),
            at("2026-11-30T00:00"),
            "2026-W48",
            id="monday 0:00",
        ),
        pytest.param(
            "week",
            at("2026-11-29T23:59"),
            at("2026-11-23T00:00"),
            at("2026-11-30T00:00"),
            "2026-W48",
            id="sunday",
        ),
        pytest.param(
            "month",
            at("2026-11-26T10:00"),
            at("2026-11-01T00:00"),
            at("2026-12-01T00:00"),
            "2026-11",
            id="month",
        ),
        pytest.param(
            "day",
            at("2026-03-29T12:00"),
            at("2026-03-29T00:00"),
            at("2026-03-30T00:00"),
            "2026-03-29",
            id="berlin spring forward: 23h day",
        ),
        pytest.param(
            "day",
            at("2026-10-25T02:30"),
            at("2026-10-25T00:00"),
            at("2026-10-26T00:00"),
            "2026-10-25",
            id="berlin fall back: 25h day",
        ),
        pytest.param(
            "week",
            at("2026-03-29T12:00"),
            at("2026-03-23T00:00"),
            at("2026-03-30T00:00"),
            "2026-W13",
            id="week over spring forward",
        ),
        pytest.param(
            "day",
            at("2026-12-31T23:30", NEW_YORK),
            at("2026-12-31T00:00", NEW_YORK),
            at("2027-01-01T00:00", NEW_YORK),
            "2026-12-31",
            id="new year's eve",
        ),
        pytest.param(
            "month",
            at("2026-12-31T23:30", NEW_YORK),
            at("2026-12-01T00:00", NEW_YORK),
            at("2027-01-01T00:00", NEW_YORK),
            "2026-12",
            id="december",
        ),
        pytest.param(
            "week",
            at("2027-01-01T09:00"),
            at("2026-12-28T00:00"),
            at("2027-01-04T00:00"),
            "2026-W53",
            id="iso week year differs from calendar year",
        ),
        pytest.param(
            "month",
            at("2028-02-29T12:00"),
            at("2028-02-01T00:00"),
            at("2028-03-01T00:00"),
            "2028-02",
            id="leap",
        ),
        pytest.param(
            "day",
            at("2026-09-06T12:00", SANTIAGO),
            at("2026-09-06T01:00", SANTIAGO),
            at("2026-09-07T00:00", SANTIAGO),
            "2026-09-06",
            id="santiago: midnight skipped, day starts at 01:00",
        ),
    ],
)
def test_period_window(period: Period, now: datetime, start: datetime, end: datetime, key: str) -> None:
    window = period_window(period, now)
    assert window.key == key
    assert window.start == start
    assert window.start.utcoffset() == start.astimezone(now.tzinfo).utcoffset()
    assert window.end == end
    assert window.start <= now < end


@pytest.mark.parametrize(
    ("now", "hours"),
    [(at("2026-03-29T12:00"), 23), (at("2026-10-25T12:00"), 25), (at("2026-11-26T12:00"), 24)],
    ids=["spring", "autumn", "plain"],
)
def test_day_length_in_real_time(now: datetime, hours: int) -> None:
    window = period_window("day", now)
    assert window.end is not None
    assert window.end.timestamp() - window.start.timestamp() == hours * 3600


def test_total_period() -> None:
    window = period_window("total", at("2026-11-26T10:00"))
    assert window == PeriodWindow(datetime.fromtimestamp(0, BERLIN), None, "total")


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_window("day", datetime(2026, 11, 26, 10, 0))


# --- scope -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "model", "user", "expected"),
    [
        (BudgetSpec(name="b", limit_usd=1), "any", None, True),
        (BudgetSpec(name="b", limit_usd=1), "any", "ann", True),
        (BudgetSpec(name="b", limit_usd=1, model="think"), "think", None, True),
        (BudgetSpec(name="b", limit_usd=1, model="think"), "default", None, False),
        (BudgetSpec(name="b", limit_usd=1, user="ann"), "any", "ann", True),
        (BudgetSpec(name="b", limit_usd=1, user="ann"), "any", "bob", False),
        (BudgetSpec(name="b", limit_usd=1, user="ann"), "any", None, False),
        (BudgetSpec(name="b", limit_usd=1, model="think", user="ann"), "think", "bob", False),
        (BudgetSpec(name="b", limit_usd=1, model="think", user="ann"), "think", "ann", True),
    ],
)
def test_applies(budget: BudgetSpec, model: str, user: str | None, expected: bool) -> None:
    assert applies(budget, model, user) is expected


@pytest.mark.parametrize(
    ("budget", "rec", "counted"),
    [
        pytest.param(
            BudgetSpec(name="b", limit_usd=10, model="think"), record(1.0, model="think"), True, id="routed"
        ),
        pytest.param(
            BudgetSpec(name="b", limit_usd=10, model="claude-opus-4-8"),
            record(1.0, model="default", requested="claude-opus-4-8"),
            True,
            id="requested",
        ),
        pytest.param(BudgetSpec(name="b", limit_usd=10, model="think"), record(1.0), False, id="other model"),
        pytest.param(
            BudgetSpec(name="b", limit_usd=10, user="ann"), record(1.0, user="ann"), True, id="user"
        ),
        pytest.param(
            BudgetSpec(name="b", limit_usd=10, user="ann"), record(1.0, user="bob"), False, id="other user"
        ),
        pytest.param(BudgetSpec(name="b", limit_usd=10, user="ann"), record(1.0), False, id="anonymous"),
    ],
)
def test_add_counts_only_records_in_scope(budget: BudgetSpec, rec: RequestRecord, counted: bool) -> None:
    tracker = BudgetTracker([budget], FakeClock(at("2026-11-26T10:00")))
    tracker.add(rec)
    assert tracker.statuses()[0].spent_usd == (1.0 if counted else 0.0)


# --- alerts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        pytest.param([5.0, 2.6, 0.1, 1.5, 1.0, 5.0], [[], [0.75], [], [0.9], [1.0], []], id="one at a time"),
        pytest.param([12.0, 1.0], [[0.75, 0.9, 1.0], []], id="one jump crosses all three"),
        pytest.param([7.5], [[0.75]], id="exactly at the threshold"),
        pytest.param([0.1] * 75, [[]] * 74 + [[0.75]], id="float sums reach the threshold"),
        pytest.param([None, 9.5, None], [[], [0.75, 0.9], []], id="unknown cost adds nothing"),
    ],
)
def test_thresholds_fire_once(costs: list[float | None], expected: list[list[float]]) -> None:
    tracker = BudgetTracker([DAILY], FakeClock(at("2026-11-26T10:00")))
    assert [fractions(tracker.add(record(c))) for c in costs] == expected


def test_unknown_cost_adds_nothing() -> None:
    tracker = BudgetTracker([DAILY], FakeClock(at("2026-11-26T10:00")))
    assert tracker.add(record(None)) == []
    assert tracker.statuses()[0].spent_usd == 0.0


def test_new_period_resets_spend_and_alerts() -> None:
    clock = FakeClock(at("2026-11-26T23:00"))
    tracker = BudgetTracker([DAILY], clock)
    assert fractions(tracker.add(record(8.0))) == [0.75]
    clock.advance(hours=2)
    assert tracker.statuses()[0].spent_usd == 0.0
    assert tracker.statuses()[0].period_key == "2026-11-27"
    assert fractions(tracker.add(record(8.0))) == [0.75]
    assert tracker.statuses()[0].alerts_sent == (0.75,)


def test_seeded_state_suppresses_repeats_after_restart() -> None:
    clock = FakeClock(at("2026-11-26T10:00"))
    first = BudgetTracker([DAILY], clock)
    assert fractions(first.add(record(8.0))) == [0.75]
    restarted = BudgetTracker([DAILY], clock)
    restarted.seed({"daily": 8.0}, {"daily": [0.75]})
    assert restarted.add(record(0.1)) == []
    assert fractions(restarted.add(record(1.0))) == [0.9]
    assert restarted.statuses()[0].spent_usd == pytest.approx(9.1)


def test_seed_replaces_state_and_catches_up_unsent_alerts() -> None:
    tracker = BudgetTracker(
        [DAILY, BudgetSpec(name="weekly", limit_usd=50, period="week")], FakeClock(at("2026-11-26T10:00"))
    )
    tracker.add(record(3.0))
    tracker.seed({"daily": 9.5, "unknown": 1.0}, {"daily": [0.9]})
    daily, weekly = tracker.statuses()
    assert (daily.spent_usd, daily.alerts_sent) == (9.5, (0.9,))
    assert (weekly.spent_usd, weekly.alerts_sent) == (0.0, ())
    # 0.75 was reached but never sent (say, the process died first): the next request sends it.
    assert fractions(tracker.add(record(0.0))) == [0.75]


def test_mark_sent() -> None:
    tracker = BudgetTracker([DAILY], FakeClock(at("2026-11-26T10:00")))
    tracker.mark_sent("daily", "2026-11-25", 0.75)  # yesterday's: ignored
    tracker.mark_sent("nobody", "2026-11-26", 0.75)
    tracker.mark_sent("daily", "2026-11-26", 0.9)
    assert fractions(tracker.add(record(9.5))) == [0.75]
    assert tracker.statuses()[0].alerts_sent == (0.75, 0.9)


def test_duplicate_budget_names_refused() -> None:
    with pytest.raises(ValueError, match="daily"):
        BudgetTracker([DAILY, DAILY], FakeClock(at("2026-11-26T10:00")))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(min_value=0, max_value=6, allow_nan=False)),
            st.integers(min_value=0, max_value=8 * 3600),  # seconds to wait before the record
        ),
        max_size=40,
    )
)
def test_each_fraction_at_most_once_per_period(steps: list[tuple[float | None, int]]) -> None:
    clock = FakeClock(at("2026-11-26T20:00"))
    tracker = BudgetTracker([DAILY], clock)
    returned: dict[str, list[float]] = {}
    known: dict[str, float] = {}
    for usd, wait in steps:
        clock.advance(seconds=wait)
        key = clock().date().isoformat()
        for alert in tracker.add(record(usd)):
            assert alert.period_key == key
            returned.setdefault(key, []).append(alert.fraction)
        known[key] = known.get(key, 0.0) + (usd or 0.0)
        assert tracker.statuses()[0].spent_usd == pytest.approx(known[key])
    for key, sent in returned.items():
        assert len(sent) == len(set(sent)), key
        assert all(known[key] >= f * DAILY.limit_usd - 1e-9 for f in sent)


# --- blocking --------------------------------------------------------------------------------------------------


BLOCKING_BUDGETS = [
    BudgetSpec(name="soft", limit_usd=1.0),
    BudgetSpec(name="opus-cap", limit_usd=5.0, model="think", block=True),
    BudgetSpec(name="ann-cap", limit_usd=2.0, user="ann", block=True),
]


@pytest.mark.parametrize(
    ("spend", "model", "user", "blocked_by"),
    [
        pytest.param([], "think", "ann", None, id="nothing spent"),
        pytest.param([record(3.0)], "default", None, None, id="over a non-blocking budget only"),
        pytest.param([record(4.99, model="think")], "think", None, None, id="just under"),
        pytest.param([record(5.0, model="think")], "think", None, "opus-cap", id="at the limit"),
        pytest.param([record(6.0, model="think")], "default", None, None, id="other model"),
        pytest.param([record(2.5, user="ann")], "default", "ann", "ann-cap", id="user over"),
        pytest.param([record(2.5, user="ann")], "default", "bob", None, id="other user"),
        pytest.param([record(None, model="think")], "think", None, None, id="unknown cost"),
    ],
)
def test_blocking(spend: list[RequestRecord], model: str, user: str | None, blocked_by: str | None) -> None:
    tracker = BudgetTracker(BLOCKING_BUDGETS, FakeClock(at("2026-11-26T10:00")))
    for rec in spend:
        tracker.add(rec)
    status = tracker.blocking(model, user)
    assert (status.name if status else None) == blocked_by
    if status is not None:
        assert status.blocking and status.spent_usd >= status.limit_usd


def test_blocking_lifts_in_the_next_period() -> None:
    clock = FakeClock(at("2026-11-26T23:59"))
    tracker = BudgetTracker(BLOCKING_BUDGETS, clock)
    tracker.add(record(5.0, model="think"))
    assert tracker.blocking("think", None) is not None
    clock.advance(minutes=2)
    assert tracker.blocking("think", None) is None


def test_blocking_is_cheap() -> None:
    budgets = [
        BudgetSpec(name=f"b{i}", limit_usd=100.0, model=f"m{i % 5}", user=f"u{i % 3}", block=True)
        for i in range(20)
    ]
    tracker = BudgetTracker(budgets, FakeClock(at("2026-11-26T10:00")))
    calls = 5000
    started = time.perf_counter()
    for _ in range(calls):
        tracker.blocking("m1", "u1")
    per_call = (time.perf_counter() - started) / calls
    assert per_call < 0.2e-3


# --- burn rate and projection ----------------------------------------------------------------------------------


def steady(clock: FakeClock, tracker: BudgetTracker, minutes: int, usd_per_minute: float) -> None:
    for _ in range(minutes):
        clock.advance(minutes=1)
        tracker.add(record(usd_per_minute))


def test_steady_rate_projection_and_reach_time() -> None:
    clock = FakeClock(at("2026-11-26T09:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 10, 0.5)  # $5 by 09:10 at $0.50/min
    status = tracker.statuses()[0]
    assert status.spent_usd == pytest.approx(5.0)
    # 890 minutes to midnight at $0.50/min.
    assert status.projected_usd == pytest.approx(5.0 + 0.5 * 890)
    assert status.reach_limit_at == at("2026-11-26T09:20")
    assert status.percent == 50.0


def test_rate_uses_the_trailing_hour() -> None:
    clock = FakeClock(at("2026-11-26T07:00"))
    tracker = BudgetTracker([BudgetSpec(name="daily", limit_usd=500.0)], clock)
    steady(clock, tracker, 60, 2.0)  # 07:00-08:00: $2/min
    steady(clock, tracker, 60, 1.0)  # 08:00-09:00: $1/min, the rate that counts at 09:00
    status = tracker.statuses()[0]
    assert status.spent_usd == pytest.approx(180.0)
    assert status.projected_usd == pytest.approx(180.0 + 1.0 * 15 * 60)
    assert status.reach_limit_at == at("2026-11-26T14:20")  # $320 left at $1/min


def test_rate_forgets_spend_older_than_an_hour() -> None:
    clock = FakeClock(at("2026-11-26T07:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 10, 0.1)
    assert tracker.statuses()[0].projected_usd is not None
    clock.advance(minutes=60)
    status = tracker.statuses()[0]
    assert status.spent_usd == pytest.approx(1.0)
    assert (status.projected_usd, status.reach_limit_at) == (None, None)


def test_projection_uses_real_time_on_a_25_hour_day() -> None:
    clock = FakeClock(at("2026-10-25T00:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 10, 0.5)
    # 25 real hours in the day, 10 minutes gone: 1490 minutes left (a wall-clock difference would say 1430).
    assert tracker.statuses()[0].projected_usd == pytest.approx(5.0 + 0.5 * 1490)


@pytest.mark.parametrize(
    ("minutes", "usd"),
    [
        pytest.param(0, 0.0, id="no data"),
        pytest.param(1, 3.0, id="under two minutes"),
        pytest.param(30, 0.0, id="free"),
    ],
)
def test_no_projection_without_a_rate(minutes: int, usd: float) -> None:
    clock = FakeClock(at("2026-11-26T09:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, minutes, usd)
    status = tracker.statuses()[0]
    assert (status.projected_usd, status.reach_limit_at) == (None, None)


def test_no_rate_in_the_first_minutes_of_a_period() -> None:
    clock = FakeClock(at("2026-11-26T23:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 61, 0.01)  # into 00:01 of the next day
    assert tracker.statuses()[0].projected_usd is None


def test_reach_time_after_period_end_is_none() -> None:
    clock = FakeClock(at("2026-11-26T22:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 10, 0.01)
    status = tracker.statuses()[0]
    assert status.projected_usd == pytest.approx(0.1 + 0.01 * 110)
    assert status.reach_limit_at is None


def test_total_budget_has_reach_time_but_no_projection() -> None:
    clock = FakeClock(at("2026-11-26T09:00"))
    tracker = BudgetTracker([BudgetSpec(name="all", limit_usd=100.0, period="total")], clock)
    steady(clock, tracker, 10, 1.0)
    status = tracker.statuses()[0]
    assert status.projected_usd is None
    assert status.reach_limit_at == at("2026-11-26T10:40")


def test_no_reach_time_once_over_the_limit() -> None:
    clock = FakeClock(at("2026-11-26T09:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 10, 1.5)
    status = tracker.statuses()[0]
    assert status.reach_limit_at is None
    assert status.projected_usd is not None and status.projected_usd > 15
    assert status.percent == 150.0


# --- messages --------------------------------------------------------------------------------------------------


def alert(
    period: Period,
    spent: float,
    reach: datetime | None,
    *,
    budget: str = "daily",
    blocking: bool = False,
    period_end: datetime | None = None,
) -> AlertDue:
    return AlertDue(
        budget=budget,
        period=period,
        period_key="k",
        fraction=0.75,
        spent_usd=spent,
        limit_usd=10.0,
        projected_usd=None if reach is None else 20.0,
        reach_limit_at=reach,
        blocking=blocking,
        period_end=period_end,
    )


@pytest.mark.parametrize(
    ("due", "text"),
    [
        pytest.param(
            alert("day", 7.52, at("2026-11-26T16:40")),
            "Budget daily: $7.52 of $10.00 (75%) spent today. At this rate you reach the limit at 16:40.",
            id="day",
        ),
        pytest.param(
            alert("day", 7.52, at("2026-11-26T16:39:45")),
            "Budget daily: $7.52 of $10.00 (75%) spent today. At this rate you reach the limit at 16:40.",
            id="rounded to the minute",
        ),
        pytest.param(
            alert("week", 9.0, at("2026-11-27T09:05"), budget="weekly"),
            "Budget weekly: $9.00 of $10.00 (90%) spent this week. At this rate you reach the limit on Friday at 09:05.",
            id="week",
        ),
        pytest.param(
            alert("month", 7.5, at("2026-11-28T18:00"), budget="monthly"),
            "Budget monthly: $7.50 of $10.00 (75%) spent this month. "
            "At this rate you reach the limit on Saturday 28 November at 18:00.",
            id="month",
        ),
        pytest.param(
            alert("total", 7.5, at("2027-01-03T08:00"), budget="all"),
            "Budget all: $7.50 of $10.00 (75%) spent in total. At this rate you reach the limit on 3 January 2027 at 08:00.",
            id="total",
        ),
        pytest.param(
            alert("day", 7.52, None), "Budget daily: $7.52 of $10.00 (75%) spent today.", id="no projection"
        ),
        pytest.param(
            alert("day", 10.5, at("2026-11-26T16:40")),
            "Budget daily: $10.50 of $10.00 (105%) spent today.",
            id="limit reached",
        ),
        pytest.param(
            alert("day", 10.0, None, blocking=True, period_end=at("2026-11-27T00:00")),
            "Budget daily: $10.00 of $10.00 (100%) spent today. Requests in its scope are refused until midnight.",
            id="blocking day",
        ),
        pytest.param(
            alert("month", 12.0, None, blocking=True, period_end=at("2026-12-01T00:00")),
            "Budget daily: $12.00 of $10.00 (120%) spent this month. "
            "Requests in its scope are refused until Tuesday 1 December.",
            id="blocking month",
        ),
        pytest.param(
            alert("total", 10.0, None, blocking=True),
            "Budget daily: $10.00 of $10.00 (100%) spent in total. Requests in its scope are refused until the limit is raised.",
            id="blocking total",
        ),
    ],
)
def test_alert_message(due: AlertDue, text: str) -> None:
    assert due.message() == text


def test_alert_from_tracker_carries_projection() -> None:
    clock = FakeClock(at("2026-11-26T09:00"))
    tracker = BudgetTracker([DAILY], clock)
    steady(clock, tracker, 14, 0.5)  # $7 at 09:14
    (due,) = tracker.add(record(0.52))  # $7.52 at 09:14: rate from 14 minutes
    assert due.fraction == 0.75
    assert due.period_key == "2026-11-26"
    assert due.reach_limit_at is not None
    assert due.message().startswith(
        "Budget daily: $7.52 of $10.00 (75%) spent today. At this rate you reach the limit at 09:"
    )


def test_status_json() -> None:
    tracker = BudgetTracker([DAILY], FakeClock(at("2026-11-26T09:00")))
    tracker.add(record(8.0))
    assert tracker.statuses()[0].to_json() == {
        "name": "daily",
        "period": "day",
        "period_key": "2026-11-26",
        "limit_usd": 10.0,
        "spent_usd": 8.0,
        "percent": 80.0,
        "alerts_sent": [0.75],
        "blocking": False,
        "projected_usd": None,
        "reach_limit_at": None,
    }


def test_a_fresh_tracker_projects_from_the_ledgers_last_hour() -> None:
    """The CLI and the tray start a tracker, seed it from the ledger and must still show a burn rate."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ccproxy_desktop.config.schema import BudgetSpec
    from ccproxy_desktop.ledger.budgets import BudgetTracker

    now = datetime(2026, 11, 26, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    tracker = BudgetTracker([BudgetSpec(name="daily", limit_usd=10.0, period="day")], lambda: now)
    tracker.seed({"daily": 4.0}, {"daily": []})
    assert tracker.statuses()[0].reach_limit_at is None
    tracker.seed_recent({"daily": 1.0})  # $1 in the last hour: $6 left, reached in 6 hours
    status = tracker.statuses()[0]
    assert status.reach_limit_at is not None
    assert abs((status.reach_limit_at - now).total_seconds() - 6 * 3600) < 60
    assert status.projected_usd is not None and abs(status.projected_usd - 16.0) < 0.1
