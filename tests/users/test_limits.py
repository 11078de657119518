"""Per-user limits with an injected clock: token and cost sums per day and month, re-seeding from the
ledger, period roll-over, and which models a user may use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccproxy_desktop.config.schema import UserSpec
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.users.keys import hash_key
from ccproxy_desktop.users.limits import UserUsage, counted_tokens, model_refusal

BERLIN = ZoneInfo("Europe/Berlin")
HASH = hash_key("k")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = (self.now.astimezone(UTC) + timedelta(**delta)).astimezone(BERLIN)


def spec(**limits: object) -> UserSpec:
    return UserSpec(key_hash=HASH, **limits)  # type: ignore[arg-type]


def used(user: str | None, tokens: int = 1000, usd: float | None = 0.5) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        ts=0.0,
        label="default",
        requested_model="m",
        routed_model="m",
        provider_model="anthropic/m",
        usage=TokenUsage(input=tokens - 100, output=100, cache_read=50_000),
        cost_usd=usd,
        user=user,
    )


def test_counted_tokens_are_input_cache_writes_and_output_not_cache_reads() -> None:
    usage = TokenUsage(input=10, output=20, cache_read=1000, cache_write_5m=3, cache_write_1h=4)
    assert counted_tokens(usage) == 37


def test_token_limit_is_reached_at_the_limit_and_resets_at_midnight() -> None:
    clock = Clock(datetime(2026, 11, 26, 23, 0, tzinfo=BERLIN))
    usage = UserUsage({"alice": spec(daily_token_limit=2000), "bob": spec()}, clock)
    usage.add(used("alice"))
    assert usage.exhausted("alice") is None
    usage.add(used("alice"))
    hit = usage.exhausted("alice")
    assert hit is not None and (hit.what, hit.period, hit.used, hit.limit) == ("tokens", "day", 2000, 2000)
    assert hit.message() == (
        "ccproxy user 'alice' has used 2,000 of the 2,000 tokens allowed today; their requests are refused "
        "until midnight (local time) or until the limit is raised in ccproxy.yaml"
    )
    usage.add(used("bob", tokens=10**9))
    assert usage.exhausted("bob") is None  # no limits: not tracked
    assert usage.used("bob", "day") == (0, 0.0)
    clock.advance(hours=1)
    assert usage.exhausted("alice") is None
    assert usage.used("alice", "month") == (2000, 1.0)


def test_monthly_cost_limit_names_the_day_it_resets() -> None:
    clock = Clock(datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN))
    usage = UserUsage({"alice": spec(monthly_cost_limit_usd=1.0, daily_cost_limit_usd=5.0)}, clock)
    usage.add(used("alice", usd=0.6))
    usage.add(used("alice", usd=None))  # unknown cost: tokens count, cost doesn't
    assert usage.exhausted("alice") is None
    usage.add(used("alice", usd=0.4))
    hit = usage.exhausted("alice")
    assert hit is not None and (hit.what, hit.period) == ("cost", "month")
    assert "$1.00 of the $1.00 allowed this month" in hit.message()
    assert "until 1 December (local time)" in hit.message()


def test_seed_replaces_the_totals_with_the_ledgers_unless_the_period_moved_on() -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, tzinfo=BERLIN))
    usage = UserUsage({"alice": spec(daily_token_limit=100, monthly_token_limit=10_000)}, clock)
    windows = usage.windows()
    assert (windows["day"].key, windows["month"].key) == ("2026-11-30", "2026-11")
    usage.seed("day", "2026-11-30", {"alice": (150, 0.1), "(none)": (10**9, 0.0), "mallory": (1, 0.0)})
    hit = usage.exhausted("alice")
    assert hit is not None and hit.used == 150
    clock.advance(minutes=2)
    usage.seed("day", "2026-11-30", {"alice": (150, 0.1)})  # read before midnight, arrives after: ignored
    usage.seed("month", "2026-11", {"alice": (99_999, 0.1)})
    assert usage.exhausted("alice") is None
    assert usage.used("alice", "day") == (0, 0.0)


@pytest.mark.parametrize(
    ("limits", "requested", "routed", "refused"),
    [
        ({}, "claude-opus-4-8", "claude-opus-4-8", None),
        ({"blocked_models": ["*opus*"]}, "claude-opus-4-8", "claude-opus-4-8", "blocked_models"),
        ({"blocked_models": ["*OPUS*"]}, "claude-opus-4-8", "default", "blocked_models"),
        ({"blocked_models": ["think"]}, "claude-sonnet-5", "think", "blocked_models"),
        ({"blocked_models": ["*opus*"]}, "claude-sonnet-5", "default", None),
        ({"allowed_models": ["claude-haiku-*"]}, "claude-haiku-4-5", "claude-haiku-4-5", None),
        ({"allowed_models": ["claude-haiku-*"]}, "claude-haiku-4-5", "token_count", "was routed there"),
        ({"allowed_models": ["background"]}, "claude-haiku-4-5", "background", None),
        (
            {"allowed_models": ["claude-*"], "blocked_models": ["claude-opus-*"]},
            "claude-opus-4-8",
            "claude-opus-4-8",
            "blocked_models",
        ),
    ],
)
def test_models_a_user_may_use(
    limits: dict[str, list[str]], requested: str, routed: str, refused: str | None
) -> None:
    reason = model_refusal("alice", spec(**limits), requested, routed)
    if refused is None:
        assert reason is None
    else:
        assert (
            reason is not None and refused in reason and reason.startswith("ccproxy user 'alice' may not use")
        )
