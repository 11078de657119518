"""Budgets: spend per calendar period, alerts at fractions of the limit, blocking, and the burn rate.

Pure: time comes from the injected `now` clock (an aware datetime; give it a `zoneinfo` zone so periods follow
daylight saving time, not a fixed offset). The tracker is in-memory; the ledger is the truth and `seed` replaces
the tracker's state from it at start and on periodic re-syncs, so several proxy workers agree on what was spent
and which alerts went out.

A record counts toward the period that is current when it is added (by the clock, not its `ts`): a request that
finishes across midnight lands in the new day until the next re-sync from the ledger.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from ccproxy_desktop.config.schema import BudgetSpec
from ccproxy_desktop.ledger.records import RequestRecord

__all__ = [
    "AlertDue",
    "BudgetStatus",
    "BudgetTracker",
    "Period",
    "PeriodWindow",
    "applies",
    "period_window",
]

Period = Literal["day", "week", "month", "total"]

RATE_WINDOW_SECONDS = 3600.0
"""The burn rate is the spend of the trailing hour (or of the time since the period or tracker started)."""
MIN_RATE_SECONDS = 120.0
"""No burn rate before two minutes of observation: one early request would project nonsense."""
_MAX_SAMPLES = 4000  # samples are coalesced per second, so an hour needs at most 3600
_HORIZON_SECONDS = 100 * 365 * 86400.0  # a `total` budget reached in a century has no meaningful date
_EPSILON_USD = 1e-9  # sums of float costs: $7.4999999999 has reached $7.50

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_PERIOD_PHRASES: dict[str, str] = {
    "day": "today",
    "week": "this week",
    "month": "this month",
    "total": "in total",
}


@dataclass(frozen=True)
class PeriodWindow:
    """A calendar period in local time: `start` inclusive, `end` exclusive (None: never ends)."""

    start: datetime
    end: datetime | None
    key: str


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of `day` in `tz`. Normalised through UTC so a midnight skipped by a DST change
    (some zones switch at 00:00) becomes the first wall time that exists."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).astimezone(tz)


def period_window(period: Period, now: datetime) -> PeriodWindow:
    """The period containing `now`, in `now`'s time zone. Weeks start on Monday (ISO 8601).

    Keys: day `2026-11-26`, week `2026-W48` (ISO week-numbering year), month `2026-11`, total `total`
    (starting at the Unix epoch).
    """
    tz = now.tzinfo
    if tz is None or now.utcoffset() is None:
        raise ValueError("period_window needs an aware datetime")
    today = now.date()
    if period == "day":
        return PeriodWindow(
            _local_midnight(today, tz), _local_midnight(today + timedelta(days=1), tz), today.isoformat()
        )
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        iso = today.isocalendar()
        return PeriodWindow(
            _local_midnight(monday, tz),
            _local_midnight(monday + timedelta(days=7), tz),
            f"{iso.year:04d}-W{iso.week:02d}",
        )
    if period == "month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return PeriodWindow(
            _local_midnight(first, tz), _local_midnight(following, tz), f"{today.year:04d}-{today.month:02d}"
        )
    if period == "total":
        return PeriodWindow(datetime.fromtimestamp(0, tz), None, "total")
    raise ValueError(f"unknown budget period {period!r}")


def applies(budget: BudgetSpec, model: str, user: str | None, project: str | None = None) -> bool:
    """Whether a request for `model` by `user` in `project` is in the budget's scope (an unset scope matches
    everything)."""
    return (
        (budget.model is None or budget.model == model)
        and (budget.user is None or budget.user == user)
        and (budget.project is None or budget.project == project)
    )


def _money(usd: float, currency: str = "$") -> str:
    return f"{currency}{usd:,.2f}"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _day_phrase(moment: datetime, *, weekday: bool = True, year: bool = False) -> str:
    text = f"{moment.day} {_MONTHS[moment.month - 1]}"
    if year:
        text += f" {moment.year}"
    return f"{_WEEKDAYS[moment.weekday()]} {text}" if weekday else text


@dataclass(frozen=True)
class BudgetStatus:
    """A budget in its current period. `percent` is spent/limit in percent (may exceed 100), to 0.1."""

    name: str
    period: Period
    period_key: str
    limit_usd: float
    spent_usd: float
    percent: float
    alerts_sent: tuple[float, ...]
    blocking: bool
    projected_usd: float | None
    reach_limit_at: datetime | None

    def to_json(self) -> dict[str, object]:
        """The `budget --json` object."""
        return {
            "name": self.name,
            "period": self.period,
            "period_key": self.period_key,
            "limit_usd": self.limit_usd,
            "spent_usd": self.spent_usd,
            "percent": self.percent,
            "alerts_sent": list(self.alerts_sent),
            "blocking": self.blocking,
            "projected_usd": self.projected_usd,
            "reach_limit_at": self.reach_limit_at.isoformat() if self.reach_limit_at else None,
        }


@dataclass(frozen=True)
class AlertDue:
    """A threshold (`fraction` of the limit) crossed in a period; each is due once per budget and period."""

    budget: str
    period: Period
    period_key: str
    fraction: float
    spent_usd: float
    limit_usd: float
    projected_usd: float | None
    reach_limit_at: datetime | None
    blocking: bool = False
    period_end: datetime | None = None

    def message(self) -> str:
        """One or two sentences for a notification, e.g. "Budget daily: $7.52 of $10.00 (75%) spent today.
        At this rate you reach the limit at 16:40." """
        percent = self.spent_usd / self.limit_usd * 100
        text = (
            f"Budget {self.budget}: {_money(self.spent_usd)} of {_money(self.limit_usd)} ({percent:.0f}%) "
            f"spent {_PERIOD_PHRASES[self.period]}."
        )
        reached = self.spent_usd >= self.limit_usd - _EPSILON_USD
        if reached and self.blocking:
            return f"{text} Requests in its scope are refused {self._until()}."
        if reached or self.reach_limit_at is None:
            return text
        return f"{text} At this rate you reach the limit {self._when(self.reach_limit_at)}."

    def _when(self, moment: datetime) -> str:
        # Round to the minute: 16:39:50 reads as 16:40.
        moment = (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)
        if self.period == "day":
            return f"at {_clock(moment)}"
        if self.period == "week":
            return f"on {_WEEKDAYS[moment.weekday()]} at {_clock(moment)}"
        if self.period == "month":
            return f"on {_day_phrase(moment)} at {_clock(moment)}"
        return f"on {_day_phrase(moment, weekday=False, year=True)} at {_clock(moment)}"

    def _until(self) -> str:
        if self.period_end is None:
            return "until the limit is raised"
        if self.period == "day":
            return "until midnight"
        return f"until {_day_phrase(self.period_end)}"


class _BudgetState:
    """One budget's current period, spend, alerts sent and recent spend samples. Guarded by the tracker's lock."""

    __slots__ = ("end_ts", "key", "recent_usd", "samples", "sent", "spec", "spent", "start_ts", "window")

    def __init__(self, spec: BudgetSpec) -> None:
        self.spec = spec
        self.window = PeriodWindow(datetime.fromtimestamp(0, UTC), None, "")
        self.key = ""
        self.start_ts = math.inf  # forces a roll-over on first use
        self.end_ts = -math.inf
        self.spent = 0.0
        self.sent: set[float] = set()
        # [unix second, usd] of the trailing hour, oldest first, and their sum (kept so a rate costs O(1)).
        self.samples: deque[list[float]] = deque()
        self.recent_usd = 0.0

    def current(self, now_ts: float) -> bool:
        return self.start_ts <= now_ts < self.end_ts

    def roll(self, now: datetime) -> None:
        """Move to the period containing `now`; a new period starts with nothing spent and no alerts sent."""
        window = period_window(self.spec.period, now)
        self.window = window
        self.start_ts = window.start.timestamp()
        self.end_ts = window.end.timestamp() if window.end is not None else math.inf
        if window.key != self.key:
            self.key = window.key
            self.spent = 0.0
            self.sent = set()
            self.samples.clear()
            self.recent_usd = 0.0

    def sample(self, now_ts: float, usd: float) -> None:
        second = math.floor(now_ts)
        if self.samples and self.samples[-1][0] == second:
            self.samples[-1][1] += usd
        else:
            self.samples.append([float(second), usd])
        self.recent_usd += usd
        self.forget(now_ts)

    def forget(self, now_ts: float) -> None:
        """Drop samples that left the trailing hour (and, should the clock jump back, the oldest beyond the cap)."""
        horizon = now_ts - RATE_WINDOW_SECONDS
        while self.samples and (self.samples[0][0] <= horizon or len(self.samples) > _MAX_SAMPLES):
            self.recent_usd -= self.samples.popleft()[1]
        if not self.samples:
            self.recent_usd = 0.0  # no float residue


class BudgetTracker:
    """In-memory spend per budget for the current period, alert bookkeeping and the blocking check.

    Thread-safe. `blocking` runs on every request: one clock read, then a few comparisons per `block: true` budget
    (a few microseconds for 20 of them); a status is built only for a budget over its limit.
    """

    def __init__(self, budgets: Sequence[BudgetSpec], now: Callable[[], datetime]) -> None:
        names = [b.name for b in budgets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"budget names must be unique: {', '.join(duplicates)}")
        self._now = now
        self._lock = threading.Lock()
        self._states = [_BudgetState(spec) for spec in budgets]
        self._by_name = {state.spec.name: state for state in self._states}
        self._blockers = tuple(state for state in self._states if state.spec.block)
        start = now()
        self._observing_since = start.timestamp()
        for state in self._states:
            state.roll(start)

    @property
    def budgets(self) -> tuple[BudgetSpec, ...]:
        return tuple(state.spec for state in self._states)

    def add(self, record: RequestRecord) -> list[AlertDue]:
        """Add the record's cost to every budget in its scope (its routed or requested model, its user, its
        project) and return
        the thresholds now reached that were not sent yet; they count as sent from here on. Unknown cost: nothing."""
        usd = record.cost_usd
        if usd is None:
            return []
        now = self._now()
        now_ts = now.timestamp()
        due: list[AlertDue] = []
        with self._lock:
            for state in self._states:
                spec = state.spec
                if not (
                    applies(spec, record.routed_model, record.user, record.project)
                    or applies(spec, record.requested_model, record.user, record.project)
                ):
                    continue
                if not state.current(now_ts):
                    state.roll(now)
                state.spent += usd
                state.sample(now_ts, usd)
                crossed = [
                    f
                    for f in spec.alert_at
                    if f not in state.sent and state.spent >= f * spec.limit_usd - _EPSILON_USD
                ]
                if not crossed:
                    continue
                projected, reach = self._projection(state, now, now_ts)
                for fraction in crossed:
                    state.sent.add(fraction)
                    due.append(
                        AlertDue(
                            budget=spec.name,
                            period=spec.period,
                            period_key=state.key,
                            fraction=fraction,
                            spent_usd=state.spent,
                            limit_usd=spec.limit_usd,
                            projected_usd=projected,
                            reach_limit_at=reach,
                            blocking=spec.block,
                            period_end=state.window.end,
                        )
                    )
        return due

    def mark_sent(self, budget_name: str, period_key: str, fraction: float) -> None:
        """Record an alert as sent (e.g. by another process). Ignored for an unknown budget or a past period."""
        now = self._now()
        with self._lock:
            state = self._by_name.get(budget_name)
            if state is None:
                return
            if not state.current(now.timestamp()):
                state.roll(now)
            if state.key == period_key:
                state.sent.add(fraction)

    def seed(self, spent: Mapping[str, float], sent: Mapping[str, Iterable[float]]) -> None:
        """Replace spend and alerts sent of the current periods with the ledger's (budgets missing from the
        mappings: nothing spent, nothing sent). Recent samples for the burn rate are kept."""
        with self._lock:
            self._roll_all()
            for state in self._states:
                state.spent = float(spent.get(state.spec.name, 0.0))
                state.sent = set(sent.get(state.spec.name, ()))

    def seed_recent(self, recent: Mapping[str, float]) -> None:
        """For a tracker that just started (the CLI, the tray): take `recent[name]`, the spend of the trailing
        `RATE_WINDOW_SECONDS` read from the ledger, as the burn-rate history, as if observed all along."""
        now_ts = self._now().timestamp()
        with self._lock:
            self._observing_since = min(self._observing_since, now_ts - RATE_WINDOW_SECONDS)
            for state in self._states:
                usd = float(recent.get(state.spec.name, 0.0))
                state.samples.clear()
                state.recent_usd = 0.0
                if usd > 0:
                    state.sample(now_ts - 1, usd)

    def blocking(self, model: str, user: str | None, project: str | None = None) -> BudgetStatus | None:
        """The first `block: true` budget in scope of `model`/`user`/`project` that has reached its limit, else
        None."""
        if not self._blockers:
            return None
        now = self._now()
        now_ts = now.timestamp()
        for state in self._blockers:
            spec = state.spec
            if (
                (spec.model is not None and spec.model != model)
                or (spec.user is not None and spec.user != user)
                or (spec.project is not None and spec.project != project)
            ):
                continue
            if not state.current(now_ts):
                with self._lock:
                    state.roll(now)
            if state.spent >= spec.limit_usd - _EPSILON_USD:
                with self._lock:
                    return self._status(state, now, now_ts)
        return None

    def statuses(self) -> list[BudgetStatus]:
        """Every budget in its current period, in config order."""
        with self._lock:
            now, now_ts = self._roll_all()
            return [self._status(state, now, now_ts) for state in self._states]

    def _roll_all(self) -> tuple[datetime, float]:
        """Move every budget to the period containing now (the caller holds the lock)."""
        now = self._now()
        now_ts = now.timestamp()
        for state in self._states:
            if not state.current(now_ts):
                state.roll(now)
        return now, now_ts

    def _status(self, state: _BudgetState, now: datetime, now_ts: float) -> BudgetStatus:
        spec = state.spec
        projected, reach = self._projection(state, now, now_ts)
        return BudgetStatus(
            name=spec.name,
            period=spec.period,
            period_key=state.key,
            limit_usd=spec.limit_usd,
            spent_usd=state.spent,
            percent=round(state.spent / spec.limit_usd * 100, 1),
            alerts_sent=tuple(sorted(state.sent)),
            blocking=spec.block,
            projected_usd=projected,
            reach_limit_at=reach,
        )

    def _rate(self, state: _BudgetState, now_ts: float) -> float | None:
        """USD per second over the trailing hour (or the time since the period or the tracker started, when
        shorter), or None before two minutes of observation or without spend."""
        since = max(state.start_ts, math.floor(self._observing_since))
        span = min(RATE_WINDOW_SECONDS, now_ts - since)
        if span < MIN_RATE_SECONDS:
            return None
        state.forget(now_ts)  # every sample left is inside the window: none predates `since`
        rate = state.recent_usd / span
        return rate if rate > 1e-15 else None  # nothing, or float residue of spend that left the window

    def _projection(
        self, state: _BudgetState, now: datetime, now_ts: float
    ) -> tuple[float | None, datetime | None]:
        """(spend projected at the period's end, when the limit is reached) at the current burn rate."""
        rate = self._rate(state, now_ts)
        if rate is None:
            return None, None
        projected = None if math.isinf(state.end_ts) else state.spent + rate * (state.end_ts - now_ts)
        remaining = state.spec.limit_usd - state.spent
        if remaining <= _EPSILON_USD:
            return projected, None
        reach_ts = now_ts + remaining / rate
        if not reach_ts < min(state.end_ts, now_ts + _HORIZON_SECONDS):  # also catches inf from a tiny rate
            return projected, None
        return projected, datetime.fromtimestamp(round(reach_ts), now.tzinfo)
