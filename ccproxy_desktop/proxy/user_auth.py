"""LiteLLM's custom auth hook (`general_settings.custom_auth`) for the proxy's master key and user keys.

LiteLLM calls `user_api_key_auth(request, api_key)` for every request instead of its own key check, which
needs a database for anything but the master key. The master key gets LiteLLM's usual admin identity; a user
key gets an identity naming the user, which reaches our handler's pre-call hook as `user_api_key_dict`
(`users.authenticated_user`). User keys may call the model endpoints only, not LiteLLM's management routes.

The ASGI guard has already refused missing and unknown keys with Anthropic-shaped 401/403s; this check
repeats the key lookup (a SHA-256 and a dict lookup) so LiteLLM never serves a request it didn't authorise.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request
from litellm.constants import LITELLM_PROXY_ADMIN_NAME, LITELLM_PROXY_MASTER_KEY_ALIAS
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
from litellm.proxy.auth.route_checks import RouteChecks

from .handler import proxy_handler_instance
from .users import USER_FIELD

__all__ = ["user_api_key_auth"]


def _keys_of(request: Request, api_key: str) -> list[str]:
    """The key LiteLLM picked (Authorization first) and the x-api-key header, as Claude Code sends one or
    the other (ANTHROPIC_AUTH_TOKEN / ANTHROPIC_API_KEY)."""
    keys = [api_key] if api_key else []
    header = request.headers.get("x-api-key")
    if header and header not in keys:
        keys.append(header)
    return keys


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    app = proxy_handler_instance.app
    keys = _keys_of(request, api_key)
    if any(hmac.compare_digest(key.encode(), master.encode()) for key in keys for master in app.proxy_keys):
        return UserAPIKeyAuth(
            api_key=LITELLM_PROXY_MASTER_KEY_ALIAS,
            user_role=LitellmUserRoles.PROXY_ADMIN,
            user_id=LITELLM_PROXY_ADMIN_NAME,
        )
    user = next((name for name in map(app.users.identify, keys) if name is not None), None)
    if user is None:
        raise HTTPException(status_code=403, detail="this API key is not accepted by the proxy")
    if not RouteChecks.is_llm_api_route(request.url.path):
        raise HTTPException(
            status_code=403, detail=f"user keys may call the model endpoints only, not {request.url.path}"
        )
    # A stable alias, not the key: LiteLLM passes `api_key` on to its logs and per-key counters.
    return UserAPIKeyAuth(
        api_key=f"ccproxy_user_{user}", user_id=user, key_alias=user, metadata={USER_FIELD: user}
    )
