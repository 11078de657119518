"""The ledger's vocabulary: what one request costs and how it ended. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Event", "RequestRecord", "TokenUsage"]


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one request as the provider reported them (Anthropic terms: `input` excludes cache
    reads and writes; cache writes are split by lifetime, 5 minutes and 1 hour)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h


Outcome = str
"""`ok`, `refused` (by us: a budget, a limit), or `error:<class>` (e.g. `error:RateLimitError`)."""


@dataclass(frozen=True)
class RequestRecord:
    """One row of the ledger. Never holds prompt or response text, keys or tokens."""

    request_id: str
    ts: float  # unix seconds when the request finished
    label: str  # the rule that matched ("default" when none)
    requested_model: str  # what the client asked for
    routed_model: str  # the model_name of config.yaml that served it
    provider_model: str  # what the provider was asked for (e.g. anthropic/claude-opus-4-8)
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = 0.0  # None: the model has no known price (never silently $0)
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    outcome: Outcome = "ok"
    stream: bool = False
    session_id: str | None = None
    user: str | None = None
    cached: bool = False
    retried: int = 0  # how many retries it took
    fallback: bool = False
    variant: str | None = None  # A/B test variant
    project: str | None = None  # the client's project (`x-ccproxy-project`)
    agent: str | None = None  # "main" or the Claude Code subagent; None in rows older than schema 3

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


EventKind = Literal["budget_alert", "credential_failure", "config_error", "proxy_health"]


@dataclass(frozen=True)
class Event:
    """Something the desktop app should tell the user about, stored in the ledger's events table."""

    id: int
    ts: float
    kind: str
    payload: dict[str, object]
