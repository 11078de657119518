"""When to renew a credential: pure functions of the credential, its kind of source and the clock's reading."""

from __future__ import annotations

from typing import Literal

from .credential import Credential

__all__ = [
    "BACKOFF_INITIAL_S",
    "BACKOFF_MAX_S",
    "LIFETIME_FRACTION",
    "SourceKind",
    "backoff_delay",
    "scheduled_refresh_at",
]

SourceKind = Literal["store", "command", "file"]
"""`store`: the credential lives in the secret store (set by hand, imported from Claude Code, or an OAuth2
source); `command`/`file`: re-read from an `oat_sources` entry."""

LIFETIME_FRACTION = 0.8
"""An OAuth access token is renewed once this fraction of its lifetime has passed."""

BACKOFF_INITIAL_S = 30.0
BACKOFF_MAX_S = 30 * 60.0


def scheduled_refresh_at(credential: Credential, kind: SourceKind, interval: float) -> float | None:
    """When `credential` is next due for renewal, or None when it never is.

    Command and file sources are re-read `interval` seconds after the last read (0: never). A refreshable
    OAuth token is renewed at `LIFETIME_FRACTION` of its lifetime (its issue time to `expires_at`), or every
    `interval` when the expiry is unknown. Other stored tokens can't be renewed: None.
    """
    if kind != "store":
        return credential.issued_at + interval if interval > 0 else None
    if not credential.refreshable:
        return None
    if credential.expires_at is None:
        return credential.issued_at + interval if interval > 0 else None
    start = credential.issued_at
    return start + LIFETIME_FRACTION * max(0.0, credential.expires_at - start)


def backoff_delay(failures: int, initial: float = BACKOFF_INITIAL_S, maximum: float = BACKOFF_MAX_S) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1-based): `initial`, doubling, at most
    `maximum`."""
    if failures < 1:
        return 0.0
    # Capping the exponent keeps the power finite after very many failures.
    return min(initial * 2.0 ** min(failures - 1, 64), maximum)
