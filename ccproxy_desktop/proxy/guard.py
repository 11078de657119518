"""The ASGI layer in front of the proxy's server: the checks every request passes before anything else.

- refuses other machines, browser origins and non-loopback Host names (DNS rebinding) unless configured
  otherwise (`access.Access`: ccproxy.yaml `litellm.allowed_*`);
- checks the client key (the master key, a user's key; in `x-api-key`, `Authorization: Bearer` or our own
  `x-ccproxy-key`), answering 401/403 itself;
- reads the JSON bodies of the model routes with a size cap, parses them once (`rawjson.parse_body`) and
  refuses bodies that aren't UTF-8 JSON objects nested at most `MAX_JSON_DEPTH` levels;
- creates the request's `Exchange` (who asked, the parsed body) in `scope["state"]` for the server.

Every refusal is an Anthropic error body. What the server answers (a provider's own errors included) passes
through this layer untouched.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from .access import LOOPBACK_HOSTS, LOOPBACK_NETWORKS, IPNetwork, client_allowed
from .errors import anthropic_error_body
from .exchange import exchange_of
from .rawjson import BadBody, parse_body

__all__ = [
    "BODY_PATHS",
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "OPEN_PATHS",
    "STATUS_PATH",
    "Guard",
    "anthropic_error_body",
    "nested_deeper_than",
    "send_body",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1024 * 1024
# No Messages API request nests anywhere near this; a deeper body is refused before any code walks it.
MAX_JSON_DEPTH = 128
BODY_PATHS = frozenset(
    {"/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/chat/completions"}
)
OPEN_PATHS = frozenset(
    {"/health/liveliness", "/health/readiness", "/health/liveness", "/health", "/api/hello"}
)
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
STATUS_PATH = "/ccproxy/status"  # GET, with the master key: what the proxy knows of itself


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, status: int, message: str) -> None:
    await send_body(send, status, anthropic_error_body(status, message))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def client_keys(scope: Scope) -> list[str]:
    """The keys the client presents, in order of precedence: our `x-ccproxy-key`, `x-api-key`, Bearer."""
    keys = []
    for name in (b"x-ccproxy-key", b"x-api-key"):
        value = _header(scope, name)
        if value:
            keys.append(value.strip())
    auth = _header(scope, b"authorization") or ""
    if auth.lower().startswith("bearer "):
        keys.append(auth[7:].strip())
    return [k for k in keys if k]


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """Wraps `app`. `keys` returns the master keys accepted now; `identify` (optional) names the user a key
    belongs to (None: not a user's key); `allowed_origins` are browser origins let in."""

    def __init__(
        self,
        app: ASGIApp,
        keys: Callable[[], Collection[str]],
        allowed_origins: Collection[str] = (),
        allowed_hosts: Collection[str] = LOOPBACK_HOSTS,
        allowed_clients: Collection[IPNetwork] = LOOPBACK_NETWORKS,
        max_body: int = MAX_BODY_BYTES,
        identify: Callable[[str], str | None] | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.allowed_origins = frozenset(allowed_origins)
        self.allowed_hosts = frozenset(allowed_hosts)
        self.allowed_clients = tuple(allowed_clients)
        self.max_body = max_body
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "the proxy serves no websockets"})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        dashboard = getattr(self.app, "dashboard", None)
        if dashboard is not None and dashboard.handles(path):
            await dashboard(scope, receive, send, self)  # its own checks: loopback, own origin, cookie
            return
        refusal = self._refusal(scope)
        if refusal:
            await _send_error(send, 403, refusal)
            return
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = client_keys(scope)
        if not presented:
            await _send_error(
                send, 401, "missing API key: send the proxy key in x-api-key or Authorization: Bearer"
            )
            return
        exchange = exchange_of(scope)
        if not self._admit_key(presented, exchange):
            # 403, not 401: Claude Code retries a 401 for minutes, expecting an OAuth refresh.
            await _send_error(
                send,
                403,
                "this API key is not accepted by the proxy (use `ccproxy run` to get the right one)",
            )
            return
        needs_body = path in BODY_PATHS and scope.get("method") == "POST"
        if needs_body and not await self._read_body(scope, receive, send):
            return
        await self.app(scope, receive, send)

    def _admit_key(self, presented: list[str], exchange: Any) -> bool:
        """The first presented key that is the master key or a user's wins (a client may also carry its own
        provider credential in another header, e.g. a Claude login in Authorization with x-ccproxy-key)."""
        for key in presented:
            if self.is_master(key):
                exchange.key, exchange.user = key, None
                return True
            user = self.identify(key) if self.identify is not None else None
            if user is not None:
                exchange.key, exchange.user = key, user
                return True
        return False

    def is_master(self, key: str) -> bool:
        return any(hmac.compare_digest(key.encode(), k.encode()) for k in self.keys())

    def is_proxy_key(self, key: str) -> bool:
        """A key that authenticates to this proxy (never forwarded to a provider)."""
        return self.is_master(key) or (self.identify is not None and self.identify(key) is not None)

    def _refusal(self, scope: Scope) -> str | None:
        """Why this connection is refused before anything else (who is asking, not what), or None."""
        client, server = scope.get("client"), scope.get("server")
        # A peer with the very address the connection arrived at is this machine (e.g. `ccproxy status`
        # asking the proxy on its LAN address).
        same_machine = bool(client and server and client[0] == server[0])
        if client and not same_machine and not client_allowed(str(client[0]), self.allowed_clients):
            return (
                f"client address {client[0]} is not allowed: the proxy answers loopback clients only "
                "(list other networks in litellm.allowed_clients in ccproxy.yaml)"
            )
        origins = [
            value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == b"origin"
        ]
        origin = next((o for o in origins if o and o not in self.allowed_origins), None)
        if origin and "*" not in self.allowed_origins:
            return (
                f"requests from browser origin {origin} are not allowed "
                "(list it in litellm.allowed_origins in ccproxy.yaml)"
            )
        host = _host_name(_header(scope, b"host") or "")
        if host and self.allowed_hosts and "*" not in self.allowed_hosts and host not in self.allowed_hosts:
            return (
                f"Host {host} is not allowed: the proxy answers only loopback names "
                "(list other names in litellm.allowed_hosts in ccproxy.yaml)"
            )
        return None

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Read, parse and check the body into the exchange; False after answering a refusal."""
        content_type = (_header(scope, b"content-type") or "").lower()
        if content_type.startswith(_FORM_TYPES):
            await _send_error(
                send,
                400,
                f"request body must be JSON (content-type application/json), not {content_type}"[:200],
            )
            return False
        declared = _header(scope, b"content-length")
        too_large = f"request body is larger than {self.max_body // (1024 * 1024)} MB"
        if declared and declared.strip().isdigit() and int(declared) > self.max_body:
            await _send_error(send, 413, too_large)  # refused before reading it
            return False
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_error(send, 413, too_large)
                return False
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        try:
            body = parse_body(b"".join(chunks))
        except BadBody as exc:
            await _send_error(send, 400, str(exc))
            return False
        if nested_deeper_than(body.data, MAX_JSON_DEPTH):
            await _send_error(send, 400, f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
            return False
        exchange_of(scope).body = body
        return True


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True if the parsed JSON `value` has containers nested more than `limit` levels (the top one is 1).
    Level by level, looking only at containers: about as fast as parsing a typical Claude Code request."""
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(limit):
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True
