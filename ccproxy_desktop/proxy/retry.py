"""When to send a failed request again, how long to wait, and when to switch to the fallback model.

Pure: no LiteLLM, no I/O. The server (`service.py`) asks `Attempt.next_step` after each failed try that sent
nothing to the client; only the try that answers is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

__all__ = ["RETRY_STATUSES", "Attempt", "RetryPolicy", "Step", "parse_retry_after"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 529})
"""Statuses worth another try (a dropped connection counts as 502)."""


class Step(Enum):
    GIVE_UP = "give_up"
    RETRY = "retry"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class RetryPolicy:
    """The `retry_*` keys of ccproxy.yaml. `max_attempts` counts the first try; the fallback model, if any,
    gets one more attempt after the last one failed."""

    enabled: bool = True
    max_attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    fallback_model: str | None = None
    defer_to_claude_code: bool = True

    @classmethod
    def from_settings(cls, section: Any) -> RetryPolicy:
        """From a `CCProxySection` (or anything with its `retry_*` attributes): field `x` is `retry_x`."""
        return cls(**{f.name: getattr(section, f"retry_{f.name}") for f in fields(cls)})

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry): the provider's `retry-after`
        when it sent one, else `initial_delay * multiplier ** (retry - 1)`; never more than `max_delay`."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        return min(self.initial_delay * self.multiplier ** max(retry - 1, 0), self.max_delay)


@dataclass
class Attempt:
    """One try of a client request, shared by the ASGI retry layer and the handler.

    `number` is 0 for the first try; `fallback_model` is set on the fallback attempt. The handler fills in
    `routed_model` (where the pipeline sent this try), `retry_after` (from the provider's error) and
    `refused` (the proxy itself refused the try: a budget, a user limit, a hook); the server sets
    `committed` once the response has started reaching the client.

    `client_retries`: the client is Claude Code, which retries 429, 5xx and 529 itself and decides from the
    provider's errors (its overload message, its fallback model). With `policy.defer_to_claude_code` such a
    request is not sent to the same model again (that would multiply Claude Code's own tries); it still goes
    once to the fallback model, which Claude Code can't reach by itself.
    """

    policy: RetryPolicy
    number: int = 0
    fallback_model: str | None = None
    routed_model: str | None = None
    retry_after: float | None = None
    committed: bool = False
    refused: bool = False
    client_retries: bool = False

    @property
    def retries(self) -> int:
        """How many times the request was sent before this try."""
        return self.number

    def next_step(self, status: int) -> Step:
        """What to do after this try failed with `status` (as LiteLLM answers it)."""
        if not self.policy.enabled or self.committed or self.refused or status not in RETRY_STATUSES:
            return Step.GIVE_UP
        if self.fallback_model is not None:
            return Step.GIVE_UP
        deferring = self.client_retries and self.policy.defer_to_claude_code
        if self.number + 1 < self.policy.max_attempts and not deferring:
            return Step.RETRY
        fallback = self.policy.fallback_model
        if fallback and fallback != self.routed_model:
            return Step.FALLBACK
        return Step.GIVE_UP

    def will_retry(self, status: int | None) -> bool:
        return status is not None and self.next_step(status) is not Step.GIVE_UP

    def following(self, step: Step) -> Attempt:
        """The next try after `step` (RETRY or FALLBACK)."""
        fallback = self.policy.fallback_model if step is Step.FALLBACK else None
        return Attempt(self.policy, self.number + 1, fallback, client_retries=self.client_retries)

    def wait_before(self, step: Step) -> float:
        """Seconds to wait before the try that `step` leads to (a fallback goes at once)."""
        return self.policy.delay(self.number + 1, self.retry_after) if step is Step.RETRY else 0.0


def parse_retry_after(value: str | None) -> float | None:
    """A `retry-after` header value in seconds (the HTTP-date form is not used by LLM providers)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
