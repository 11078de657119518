"""The OAuth 2.0 refresh-token grant (RFC 6749 section 6), and nothing else.

Errors carry the endpoint's error code and description (RFC 6749 section 5.2), with any token that the
server echoes removed; the tokens themselves never appear in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .credential import BodyFormat

__all__ = ["REFRESH_TIMEOUT_S", "RefreshError", "TokenResponse", "refresh_grant"]

REFRESH_TIMEOUT_S = 30.0
_MAX_DESCRIPTION = 300
# The answers that mean "this refresh token will never work again": a person has to log in again.
_PERMANENT_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type"}
)


class RefreshError(Exception):
    """A refresh grant failed. `error` is the OAuth error code when the endpoint sent one, `status` the HTTP
    status (None when no answer arrived), `permanent` True when retrying with the same refresh token is
    pointless (the user must log in again)."""

    def __init__(
        self, message: str, *, error: str | None = None, status: int | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True, repr=False)
class TokenResponse:
    """A successful answer. `refresh_token` is the rotated one, or the one sent when the server kept it
    (`rotated` False). `expires_in` is None when the server did not say."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: float | None
    rotated: bool
    scope: str | None = None

    def __repr__(self) -> str:
        return f"TokenResponse(expires_in={self.expires_in!r}, rotated={self.rotated}, scope={self.scope!r})"

    __str__ = __repr__


async def refresh_grant(
    http: httpx.AsyncClient,
    token_url: str,
    client_id: str | None,
    refresh_token: str,
    scope: str | None = None,
    *,
    body_format: BodyFormat = "form",
    headers: Mapping[str, str] | None = None,
    timeout: float = REFRESH_TIMEOUT_S,
) -> TokenResponse:
    """POST `grant_type=refresh_token` to `token_url`, form-encoded (RFC 6749) or as JSON (Anthropic), and
    return the new tokens. Raises RefreshError."""
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client_id:
        params["client_id"] = client_id
    if scope:
        params["scope"] = scope
    secrets = (refresh_token,)
    request_headers = {"accept": "application/json", **(headers or {})}
    try:
        if body_format == "json":
            response = await http.post(token_url, json=params, headers=request_headers, timeout=timeout)
        else:
            response = await http.post(token_url, data=params, headers=request_headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RefreshError(f"no answer from the token endpoint {token_url}: {type(exc).__name__}") from None
    body = _json_object(response)
    if response.status_code != 200:
        raise _error_from(response.status_code, body, token_url, secrets)
    if body is None:
        raise RefreshError(f"the token endpoint {token_url} answered 200 without a JSON object", status=200)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RefreshError(f"the token endpoint {token_url} answered 200 without an access_token", status=200)
    new_refresh = body.get("refresh_token")
    rotated = isinstance(new_refresh, str) and bool(new_refresh) and new_refresh != refresh_token
    expires_in = body.get("expires_in")
    granted_scope = body.get("scope")
    return TokenResponse(
        access_token=access_token,
        refresh_token=new_refresh if rotated and isinstance(new_refresh, str) else refresh_token,
        expires_in=_seconds(expires_in),
        rotated=rotated,
        scope=granted_scope if isinstance(granted_scope, str) else None,
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _seconds(value: object) -> float | None:
    """`expires_in` as a number of seconds (some servers send a numeric string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number > 0 else None
    return None


def _error_from(
    status: int, body: Mapping[str, Any] | None, token_url: str, secrets: tuple[str, ...]
) -> RefreshError:
    code = body.get("error") if body else None
    description = body.get("error_description") if body else None
    if isinstance(code, Mapping):  # Anthropic's own error shape: {"error": {"type": ..., "message": ...}}
        description = code.get("message")
        code = code.get("type")
    code = code if isinstance(code, str) and code else None
    text = description if isinstance(description, str) else ""
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    text = text[:_MAX_DESCRIPTION]
    said = f" {code}" if code else ""
    said += f": {text}" if text else ("" if code else " (no OAuth error in the body)")
    return RefreshError(
        f"the token endpoint {token_url} answered {status}{said}",
        error=code,
        status=status,
        permanent=code in _PERMANENT_ERRORS,
    )
