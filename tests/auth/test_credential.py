"""Credential: the keyring entry's JSON, and tokens that never show in repr, str or errors."""

from __future__ import annotations

import json

import pytest

from ccproxy_desktop.auth.credential import Credential, CredentialError

ACCESS = "sk-ant-oat01-access-SECRET"
REFRESH = "sk-ant-ort01-refresh-SECRET"

FULL = Credential(
    provider="anthropic",
    access_token=ACCESS,
    refresh_token=REFRESH,
    expires_at=1_750_003_600.0,
    token_url="https://auth.example/oauth/token",
    client_id="client-1",
    source="claude",
    obtained_at=1_750_000_000.0,
    last_refresh=1_750_001_000.0,
    body_format="json",
    scopes=("user:inference", "user:profile"),
)
MINIMAL = Credential(provider="openai", access_token=ACCESS)


@pytest.mark.parametrize("credential", [FULL, MINIMAL], ids=["full", "minimal"])
def test_json_round_trip(credential: Credential) -> None:
    assert Credential.from_json(credential.to_json(), credential.provider) == credential


@pytest.mark.parametrize("credential", [FULL, MINIMAL], ids=["full", "minimal"])
def test_repr_and_str_show_no_token(credential: Credential) -> None:
    shown = [repr(credential), str(credential), f"{credential}", repr([credential]), str({"c": credential})]
    for text in shown:
        assert ACCESS not in text
        assert REFRESH not in text
        assert credential.provider in text


def _document(**changes: object) -> str:
    data = json.loads(FULL.to_json())
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize(
    ("text", "stored_as", "reason"),
    [
        (f"not json {ACCESS}", "anthropic", "is not JSON"),
        (json.dumps([ACCESS, REFRESH]), "anthropic", "not a JSON object"),
        (_document(version=2), "anthropic", "format version 2"),
        (_document(access_token=...), "anthropic", "no 'access_token'"),
        (_document(access_token=""), "anthropic", "no 'access_token'"),
        (_document(expires_at="tomorrow"), "anthropic", "malformed 'expires_at'"),
        (_document(refresh_token=42), "anthropic", "malformed 'refresh_token'"),
        (_document(source="stolen"), "anthropic", "unknown 'source'"),
        (_document(body_format="xml"), "anthropic", "unknown 'body_format'"),
        (_document(scopes="user:inference"), "anthropic", "malformed 'scopes'"),
        (_document(), "openai", "names another provider"),
    ],
    ids=[
        "not-json",
        "not-object",
        "version",
        "no-access-token",
        "empty-access-token",
        "bad-expiry",
        "bad-refresh-token",
        "bad-source",
        "bad-body-format",
        "bad-scopes",
        "other-provider",
    ],
)
def test_malformed_entries_say_what_is_wrong_without_the_secret(
    text: str, stored_as: str, reason: str
) -> None:
    with pytest.raises(CredentialError) as caught:
        Credential.from_json(text, stored_as)
    message = str(caught.value)
    assert reason in message
    assert f"credential for {stored_as}" in message
    assert ACCESS not in message and REFRESH not in message
    # Nothing chained that would print the document in a traceback.
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize(
    ("credential", "now", "expired", "issued_at", "refreshable"),
    [
        (FULL, 1_750_003_599.0, False, 1_750_001_000.0, True),
        (FULL, 1_750_003_600.0, True, 1_750_001_000.0, True),
        (MINIMAL, 9e12, False, 0.0, False),
        (Credential("p", ACCESS, refresh_token=REFRESH), 0.0, False, 0.0, False),
        (Credential("p", ACCESS, token_url="https://x/token"), 0.0, False, 0.0, False),
    ],
    ids=["before-expiry", "at-expiry", "no-expiry", "refresh-token-only", "token-url-only"],
)
def test_expiry_lifetime_and_refreshability(
    credential: Credential, now: float, expired: bool, issued_at: float, refreshable: bool
) -> None:
    assert credential.expired(now) is expired
    assert credential.issued_at == issued_at
    assert credential.refreshable is refreshable


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"provider": "", "access_token": ACCESS}, "needs a provider"),
        ({"provider": "openai", "access_token": ""}, "empty access token"),
    ],
    ids=["no-provider", "no-token"],
)
def test_invalid_credentials_are_refused(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(CredentialError, match=reason):
        Credential(**fields)  # type: ignore[arg-type]
