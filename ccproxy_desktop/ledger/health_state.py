"""Is the way to the providers healthy right now? A verdict from the outcomes of the latest requests.

The rule, one place for the CLI (`status --health`: `health.state`) and the tray:
- look at the latest `RECENT_REQUESTS` requests that finished in the last `RECENT_WINDOW_S` seconds;
- a *provider failure* is an outcome `error:<LiteLLM exception>` (timeouts, resets, 5xx, 429, malformed
  streams, rejected credentials...), except the client's own mistakes (`CLIENT_ERRORS`). Successes, budget
  refusals (`refused`) and our own refusals (`error:<Anthropic error type>`) are not;
- the state is `degraded` when at least `MIN_FAILURES` of those requests are provider failures and they are
  more than half of them; `ok` otherwise. So a burst of failures turns it degraded at the third one, and
  successes turn it back once failures are no longer the majority of the latest ones (or after
  `RECENT_WINDOW_S` seconds without requests).
Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CLIENT_ERRORS",
    "MIN_FAILURES",
    "RECENT_REQUESTS",
    "RECENT_WINDOW_S",
    "ProviderHealth",
    "is_provider_failure",
    "provider_health",
]

RECENT_REQUESTS = 10
RECENT_WINDOW_S = 120.0
MIN_FAILURES = 3

CLIENT_ERRORS = frozenset(
    {
        "BadRequestError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "NotFoundError",
        "UnprocessableEntityError",
        "ClientDisconnected",
    }
)
"""Outcomes that say the request itself was wrong (the provider answered, it is not unhealthy), or that the
client left before the answer was complete."""

_OUR_REFUSALS = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    }
)

HealthState = Literal["ok", "degraded"]


@dataclass(frozen=True)
class ProviderHealth:
    """The verdict and the figures behind it; `reason` says why when degraded (None when ok)."""

    state: HealthState
    reason: str | None
    recent_requests: int
    recent_failures: int


def is_provider_failure(outcome: str) -> bool:
    """True for a request that failed on the way to, or at, the provider (see the module's rule)."""
    kind, _, name = outcome.partition(":")
    return kind == "error" and name not in CLIENT_ERRORS and name not in _OUR_REFUSALS


def provider_health(outcomes: Sequence[str]) -> ProviderHealth:
    """The verdict for the outcomes of the latest requests (at most `RECENT_REQUESTS`, newest first)."""
    recent = list(outcomes[:RECENT_REQUESTS])
    failures = [outcome.partition(":")[2] for outcome in recent if is_provider_failure(outcome)]
    if len(failures) < MIN_FAILURES or 2 * len(failures) <= len(recent):
        return ProviderHealth("ok", None, len(recent), len(failures))
    kinds = ", ".join(f"{name} x{n}" for name, n in Counter(failures).most_common())
    reason = f"{len(failures)} of the last {len(recent)} requests failed at the provider ({kinds})"
    return ProviderHealth("degraded", reason, len(recent), len(failures))
