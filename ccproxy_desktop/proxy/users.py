"""The per-request user checks of one proxy process: who sent it, and whether their limits let it through.

Order in the handler: the user comes from the key (LiteLLM's custom auth, `user_auth.py`); after routing,
`check` refuses a blocked model or an exhausted token/cost limit (in memory, microseconds); `admit` then
counts the request against the user's requests per minute in the ledger (one SQLite write transaction, in a
worker thread), so the rate limit holds across workers and restarts, and only requests that go out count.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

from ..config.schema import UserSpec
from ..ledger.schema import LedgerError
from ..pipeline.context import Reject
from ..users.keys import UserDirectory
from ..users.limits import model_refusal
from .accounting import Accounting

__all__ = ["CUSTOM_AUTH_PATH", "RATE_WINDOW_SECONDS", "USER_FIELD", "UserGate", "authenticated_user"]

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0
CUSTOM_AUTH_PATH = "ccproxy_desktop.proxy.user_auth.user_api_key_auth"
USER_FIELD = "ccproxy_user"
"""The key of LiteLLM's `UserAPIKeyAuth.metadata` that names the authenticated ccproxy user."""


def authenticated_user(user_api_key_dict: Any) -> str | None:
    """The ccproxy user LiteLLM's auth (our `user_auth.user_api_key_auth`) identified, None for the master
    key. Read from the `user_api_key_dict` LiteLLM passes to the pre-call hook."""
    metadata = getattr(user_api_key_dict, "metadata", None)
    user = metadata.get(USER_FIELD) if isinstance(metadata, dict) else None
    return user if isinstance(user, str) else None


class UserGate:
    """The configured users (rebuilt on a config reload) and the checks made for their requests."""

    def __init__(self, users: Mapping[str, UserSpec], accounting: Accounting) -> None:
        self.directory = UserDirectory(users)
        self.accounting = accounting
        self._ledger_failing = False

    def identify(self, key: str) -> str | None:
        """The user whose key is `key`, else None."""
        return self.directory.identify(key)

    def check(self, user: str, requested_model: str, routed_model: str) -> Reject | None:
        """A blocked model (403) or an exhausted token or cost limit (400: it can't clear within minutes,
        and Claude Code shows a 400 at once where it would retry a 429 for minutes)."""
        spec = self.directory.spec(user)
        if spec is None:
            return None
        refusal = model_refusal(user, spec, requested_model, routed_model)
        if refusal is not None:
            return Reject(403, "permission_error", refusal)
        hit = self.accounting.users.exhausted(user)
        if hit is not None:
            return Reject(400, "invalid_request_error", hit.message())
        return None

    async def admit(self, user: str) -> Reject | None:
        """Count one request against the user's `requests_per_minute` (sliding 60 s window, in the ledger);
        a 429 with `retry-after` when the window is full. If the ledger can't be written the request goes
        through (the failure is logged): a broken disk must not lock every user out."""
        spec = self.directory.spec(user)
        if spec is None or spec.requests_per_minute is None:
            return None
        limit = spec.requests_per_minute
        try:
            wait = await asyncio.to_thread(self.accounting.ledger.admit, user, RATE_WINDOW_SECONDS, limit)
        except LedgerError as exc:
            if not self._ledger_failing:
                log.warning("rate limit of user %s not checked, the ledger is unavailable: %s", user, exc)
            self._ledger_failing = True
            return None
        self._ledger_failing = False
        if wait is None:
            return None
        seconds = max(1, math.ceil(wait))
        return Reject(
            429,
            "rate_limit_error",
            f"ccproxy user {user!r} is over their limit of {limit} requests per minute; retry in {seconds} s",
            headers={"retry-after": str(seconds)},
        )
