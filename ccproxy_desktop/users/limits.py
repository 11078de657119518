"""Per-user limits: which models a user may use, tokens and cost per day and month, and the rate window.

`UserUsage` is the in-memory side of the token and cost limits, kept like the budgets' tracker: the ledger
writer adds each committed request, and a re-sync replaces the totals with the ledger's (every process's
requests, and those before a restart). Time comes from the injected `now` clock (an aware local datetime).
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..config.schema import UserSpec
from ..ledger.budgets import PeriodWindow, period_window
from ..ledger.records import RequestRecord, TokenUsage

__all__ = [
    "PERIODS",
    "LimitHit",
    "LimitPeriod",
    "UserUsage",
    "counted_tokens",
    "has_usage_limits",
    "model_refusal",
]

LimitPeriod = Literal["day", "month"]
PERIODS: tuple[LimitPeriod, ...] = ("day", "month")

_EPSILON_USD = 1e-9


def counted_tokens(usage: TokenUsage) -> int:
    """The tokens a limit counts: input, cache writes and output. Cache reads are not counted: Claude Code
    re-reads the whole conversation from the cache on every turn, at a tenth of the input price, so counting
    them would make a token limit measure conversation length rather than work (the cost limits cover them)."""
    return usage.input + usage.cache_write + usage.output


def _limits(spec: UserSpec, period: LimitPeriod) -> tuple[int | None, float | None]:
    if period == "day":
        return spec.daily_token_limit, spec.daily_cost_limit_usd
    return spec.monthly_token_limit, spec.monthly_cost_limit_usd


def has_usage_limits(spec: UserSpec) -> bool:
    return any(limit is not None for period in PERIODS for limit in _limits(spec, period))


@functools.lru_cache(maxsize=256)
def _pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive regular expression for a list of shell-style patterns (compiled once)."""
    return re.compile("|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE)


def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    return bool(patterns) and _pattern(patterns).match(model) is not None


def model_refusal(user: str, spec: UserSpec, requested: str, routed: str) -> str | None:
    """Why `user` may not send this request, or None. Blocked: the requested or the routed model matches a
    `blocked_models` pattern. Allowed (when `allowed_models` is set): the routed model, the model_name that
    serves and bills the request, must match one of its patterns."""
    for model in dict.fromkeys((requested, routed)):
        if _matches(model, spec.blocked_models):
            return f"ccproxy user {user!r} may not use model {model!r} (it matches blocked_models in ccproxy.yaml)"
    if spec.allowed_models and not _matches(routed, spec.allowed_models):
        via = f" (the request for {requested!r} was routed there)" if routed != requested else ""
        return (
            f"ccproxy user {user!r} may not use model {routed!r}{via}; "
            f"allowed_models: {', '.join(spec.allowed_models)}"
        )
    return None


@dataclass(frozen=True)
class LimitHit:
    """A token or cost limit a user has reached in the current period."""

    user: str
    what: Literal["tokens", "cost"]
    period: LimitPeriod
    used: float
    limit: float
    resets_at: datetime | None

    def message(self) -> str:
        if self.what == "tokens":
            amount = f"{int(self.used):,} of the {int(self.limit):,} tokens"
        else:
            amount = f"${self.used:,.2f} of the ${self.limit:,.2f}"
        when = "today" if self.period == "day" else "this month"
        if self.resets_at is None or self.period == "day":
            until = "midnight"
        else:
            until = f"{self.resets_at.day} {self.resets_at:%B}"  # English: the proxy never sets a locale
        return (
            f"ccproxy user {self.user!r} has used {amount} allowed {when}; their requests are refused until "
            f"{until} (local time) or until the limit is raised in ccproxy.yaml"
        )


class _Period:
    """One period's window and each user's [tokens, usd] in it. Guarded by the owner's lock."""

    __slots__ = ("end_ts", "name", "start_ts", "used", "window")

    def __init__(self, name: LimitPeriod) -> None:
        self.name = name
        self.window: PeriodWindow | None = None
        self.start_ts = math.inf
        self.end_ts = -math.inf
        self.used: dict[str, list[float]] = {}

    def current(self, now_ts: float) -> bool:
        return self.start_ts <= now_ts < self.end_ts

    def roll(self, now: datetime) -> None:
        window = period_window(self.name, now)
        if self.window is None or window.key != self.window.key:
            self.used = {}
        self.window = window
        self.start_ts = window.start.timestamp()
        self.end_ts = window.end.timestamp() if window.end is not None else math.inf


class UserUsage:
    """Each limited user's tokens and cost in the current day and month. Thread-safe.

    `exhausted` runs on every request of a user: a clock read and a few comparisons.
    """

    def __init__(self, users: Mapping[str, UserSpec], now: Callable[[], datetime]) -> None:
        self._now = now
        self._limited = {name: spec for name, spec in users.items() if has_usage_limits(spec)}
        self._lock = threading.Lock()
        self._periods = {name: _Period(name) for name in PERIODS}
        self._roll_all()

    @property
    def tracks(self) -> bool:
        """Whether any user has a token or cost limit (else nothing needs re-syncing)."""
        return bool(self._limited)

    def windows(self) -> dict[LimitPeriod, PeriodWindow]:
        """The current day and month, for reading the ledger's totals to `seed` with."""
        with self._lock:
            self._roll_all()
            return {name: period.window for name, period in self._periods.items() if period.window}

    def add(self, record: RequestRecord) -> None:
        """Count a committed request toward its user's current day and month."""
        if record.user not in self._limited:
            return
        tokens = counted_tokens(record.usage)
        usd = record.cost_usd or 0.0
        with self._lock:
            self._roll_all()
            for period in self._periods.values():
                used = period.used.setdefault(record.user, [0.0, 0.0])
                used[0] += tokens
                used[1] += usd

    def seed(self, period: LimitPeriod, key: str, totals: Mapping[str, tuple[int, float]]) -> None:
        """Replace the totals of `period` (whose window key was `key` when they were read) with the ledger's.
        Ignored if the period has moved on since."""
        with self._lock:
            self._roll_all()
            state = self._periods[period]
            if state.window is None or state.window.key != key:
                return
            state.used = {
                user: [float(tokens), float(usd)]
                for user, (tokens, usd) in totals.items()
                if user in self._limited
            }

    def used(self, user: str, period: LimitPeriod) -> tuple[int, float]:
        """(tokens, usd) of `user` in the current `period` as this tracker knows it."""
        with self._lock:
            self._roll_all()
            tokens, usd = self._periods[period].used.get(user, (0.0, 0.0))
            return int(tokens), usd

    def exhausted(self, user: str) -> LimitHit | None:
        """The first token or cost limit (day, then month) `user` has reached, else None."""
        spec = self._limited.get(user)
        if spec is None:
            return None
        with self._lock:
            self._roll_all()
            for period in self._periods.values():
                tokens_limit, usd_limit = _limits(spec, period.name)
                tokens, usd = period.used.get(user, (0.0, 0.0))
                end = period.window.end if period.window else None
                if tokens_limit is not None and tokens >= tokens_limit:
                    return LimitHit(user, "tokens", period.name, tokens, tokens_limit, end)
                if usd_limit is not None and usd >= usd_limit - _EPSILON_USD:
                    return LimitHit(user, "cost", period.name, usd, usd_limit, end)
        return None

    def _roll_all(self) -> None:
        """Move each period to the one containing now (the caller holds the lock, or is `__init__`)."""
        now = self._now()
        now_ts = now.timestamp()
        for period in self._periods.values():
            if not period.current(now_ts):
                period.roll(now)
