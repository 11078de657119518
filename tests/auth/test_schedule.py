"""When credentials are renewed: 80% of an OAuth token's lifetime, the interval for re-read sources, back-off."""

from __future__ import annotations

import pytest

from ccproxy_desktop.auth.credential import Credential
from ccproxy_desktop.auth.schedule import SourceKind, backoff_delay, scheduled_refresh_at

T = 1_000_000.0
URL = "https://auth.example/oauth/token"


def oauth(expires_at: float | None, obtained_at: float = T, last_refresh: float | None = None) -> Credential:
    return Credential(
        "anthropic",
        "a",
        refresh_token="r",
        token_url=URL,
        expires_at=expires_at,
        obtained_at=obtained_at,
        last_refresh=last_refresh,
    )


@pytest.mark.parametrize(
    ("credential", "kind", "interval", "expected"),
    [
        (oauth(T + 1000), "store", 3600, T + 800),
        (oauth(T + 1000, last_refresh=T + 500), "store", 3600, T + 500 + 400),
        (oauth(T - 10), "store", 3600, T),
        (oauth(None), "store", 3600, T + 3600),
        (oauth(None), "store", 0, None),
        (Credential("openai", "a", expires_at=T + 1000, obtained_at=T), "store", 3600, None),
        (Credential("openai", "a", source="command", obtained_at=T), "command", 600, T + 600),
        (Credential("openai", "a", source="file", obtained_at=T, last_refresh=T + 50), "file", 600, T + 650),
        (Credential("openai", "a", source="command", obtained_at=T), "command", 0, None),
    ],
    ids=[
        "oauth-80-percent",
        "oauth-from-last-refresh",
        "oauth-already-expired",
        "oauth-unknown-expiry",
        "oauth-unknown-expiry-no-interval",
        "static-token",
        "command-interval",
        "file-from-last-read",
        "command-interval-zero-never",
    ],
)
def test_scheduled_refresh_at(
    credential: Credential, kind: SourceKind, interval: float, expected: float | None
) -> None:
    assert scheduled_refresh_at(credential, kind, interval) == expected


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (10_000, 1800)],
)
def test_backoff_doubles_from_30_s_to_30_min(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay
