"""The refresh-token grant against the fake provider's token endpoint (and httpx's MockTransport for the
answers the fake provider never gives)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from ccproxy_desktop.auth.oauth2 import RefreshError, TokenResponse, refresh_grant
from ccproxy_desktop.testing.fake_provider import OAUTH_TOKEN_PATH, Behaviour, FakeProvider

REFRESH = "sk-ant-ort01-grant-SECRET"


def token_requests(provider: FakeProvider) -> list[dict[str, str]]:
    """The parameters of every request the token endpoint received, whatever their encoding."""
    found = []
    for request in provider.requests:
        if request.path == OAUTH_TOKEN_PATH:
            params = request.form if request.form is not None else request.json
            assert isinstance(params, dict)
            found.append(params)
    return found


async def test_form_encoded_grant_returns_rotated_tokens(
    provider: FakeProvider, http: httpx.AsyncClient
) -> None:
    provider.scenario.oauth_expires_in = 28_800
    url = provider.base_url + OAUTH_TOKEN_PATH
    response = await refresh_grant(http, url, "client-1", REFRESH, scope="user:inference")

    assert response.access_token.startswith("fake-access-token-")
    assert response.refresh_token.startswith("fake-refresh-token-")
    assert response.rotated is True
    assert response.expires_in == 28_800
    assert response.scope == "user:inference"
    [sent] = token_requests(provider)
    assert provider.requests[-1].form is not None  # form-encoded, as RFC 6749 says
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "client-1",
        "scope": "user:inference",
    }
    assert response.access_token not in repr(response) and response.refresh_token not in repr(response)


async def test_json_body_for_servers_that_want_it(provider: FakeProvider, http: httpx.AsyncClient) -> None:
    url = provider.base_url + OAUTH_TOKEN_PATH
    response = await refresh_grant(
        http, url, "client-1", REFRESH, body_format="json", headers={"user-agent": "claude-cli/2.1"}
    )
    assert response.rotated is True
    request = provider.requests[-1]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "claude-cli/2.1"
    assert request.json == {"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": "client-1"}


@pytest.mark.parametrize(
    ("status", "error", "permanent"),
    [(400, "invalid_grant", True), (401, "invalid_client", True), (503, "temporarily_unavailable", False)],
)
async def test_error_answers_carry_the_oauth_error_but_never_the_token(
    provider: FakeProvider, http: httpx.AsyncClient, status: int, error: str, permanent: bool
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=status), path=OAUTH_TOKEN_PATH)
    with pytest.raises(RefreshError) as caught:
        await refresh_grant(http, provider.base_url + OAUTH_TOKEN_PATH, "client-1", REFRESH)
    assert (caught.value.status, caught.value.error, caught.value.permanent) == (status, error, permanent)
    assert f"answered {status} {error}: fake provider: {error}" in str(caught.value)
    assert REFRESH not in str(caught.value)


async def test_an_unreachable_endpoint_is_a_retryable_error(http: httpx.AsyncClient) -> None:
    with pytest.raises(RefreshError) as caught:
        await refresh_grant(http, "http://127.0.0.1:1/oauth/token", None, REFRESH)
    assert "no answer from the token endpoint" in str(caught.value)
    assert caught.value.status is None and caught.value.permanent is False


Handler = Callable[[httpx.Request], httpx.Response]


async def grant_from(handler: Handler) -> TokenResponse:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return await refresh_grant(client, "https://auth.example/token", "c", REFRESH)


@pytest.mark.parametrize(
    ("body", "refresh_token", "rotated", "expires_in"),
    [
        ({"access_token": "new-a", "expires_in": 3600}, REFRESH, False, 3600.0),
        ({"access_token": "new-a", "refresh_token": REFRESH}, REFRESH, False, None),
        ({"access_token": "new-a", "refresh_token": "new-r", "expires_in": "60"}, "new-r", True, 60.0),
        ({"access_token": "new-a", "refresh_token": "", "expires_in": 0}, REFRESH, False, None),
    ],
    ids=["no-refresh-token", "same-refresh-token", "expires-in-as-text", "empty-refresh-token"],
)
async def test_a_refresh_token_that_is_not_rotated_is_kept(
    body: dict[str, object], refresh_token: str, rotated: bool, expires_in: float | None
) -> None:
    response = await grant_from(lambda _request: httpx.Response(200, json=body))
    assert response.access_token == "new-a"
    assert (response.refresh_token, response.rotated) == (refresh_token, rotated)
    assert response.expires_in == expires_in


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, text="<html>"), "answered 200 without a JSON object"),
        (httpx.Response(200, json={"token_type": "Bearer"}), "answered 200 without an access_token"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "answered 502 (no OAuth error in the body)"),
        (
            httpx.Response(
                400, json={"error": "invalid_grant", "error_description": f"unknown token {REFRESH}"}
            ),
            "answered 400 invalid_grant: unknown token [redacted]",
        ),
        (
            httpx.Response(
                404, json={"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
            ),
            "answered 404 not_found_error: Not found",
        ),
    ],
    ids=["not-json", "no-access-token", "html-error", "echoed-token", "anthropic-error-shape"],
)
async def test_unusable_answers(response: httpx.Response, expected: str) -> None:
    with pytest.raises(RefreshError) as caught:
        await grant_from(lambda _request: response)
    assert expected in str(caught.value)
    assert REFRESH not in str(caught.value)


async def test_form_body_is_what_the_server_receives() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        seen.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(200, content=json.dumps({"access_token": "a"}).encode())

    await grant_from(handler)
    assert seen == [{"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": "c"}]
