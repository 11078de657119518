"""An ASGI layer in front of LiteLLM's app: the checks every request passes before LiteLLM sees it.

- refuses browser origins and non-loopback Host names (DNS rebinding) unless configured otherwise;
- checks the client key, answering 401 itself (LiteLLM answers a missing key with a bare 500);
- reads Anthropic-format bodies with a size cap and refuses bodies that aren't a JSON object;
- gives every error on the Anthropic routes Anthropic's error shape.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

__all__ = ["Guard", "anthropic_error_body", "replay_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1024 * 1024
ANTHROPIC_PATHS = ("/v1/messages", "/v1/messages/count_tokens")
OPEN_PATHS = ("/health/liveliness", "/health/readiness", "/health/liveness")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_body(status: int, message: str, error_type: str | None = None) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type or error_type_for(status), "message": message}}
    ).encode()


async def _send_error(
    send: Send,
    status: int,
    message: str,
    error_type: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = anthropic_error_body(status, message, error_type)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _client_key(scope: Scope) -> str | None:
    key = _header(scope, b"x-api-key")
    if key:
        return key
    auth = _header(scope, b"authorization") or ""
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """Wraps `app`. `keys` returns the client keys accepted now; `allowed_origins` are browser origins let in."""

    def __init__(
        self,
        app: ASGIApp,
        keys: Callable[[], Collection[str]],
        allowed_origins: Collection[str] = (),
        allowed_hosts: Collection[str] = LOOPBACK_HOSTS,
        max_body: int = MAX_BODY_BYTES,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], None] | None = None,
        on_unauthorized: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.allowed_origins = frozenset(allowed_origins)
        self.allowed_hosts = frozenset(allowed_hosts)
        self.max_body = max_body
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.on_unauthorized = on_unauthorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        origin = _header(scope, b"origin")
        if origin and origin not in self.allowed_origins and "*" not in self.allowed_origins:
            await _send_error(send, 403, f"requests from browser origin {origin} are not allowed")
            return
        host = _host_name(_header(scope, b"host") or "")
        if host and self.allowed_hosts and "*" not in self.allowed_hosts and host not in self.allowed_hosts:
            await _send_error(
                send, 403, f"Host {host} is not allowed (the proxy answers only loopback names)"
            )
            return
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        key = _client_key(scope)
        if not key:
            await _send_error(
                send, 401, "missing API key: send the proxy key in x-api-key or Authorization: Bearer"
            )
            return
        if not self._authorized(key):
            # 403, not 401: Claude Code retries a 401 for minutes, expecting an OAuth refresh.
            await _send_error(
                send,
                403,
                "this API key is not accepted by the proxy (use `ccproxy run` to get the right one)",
            )
            return
        if path not in ANTHROPIC_PATHS or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = await self._read_body(receive, send)
        if body is None:
            return
        if self.on_unauthorized is None:
            await self.app(scope, replay_body(body, receive), _AnthropicErrors(send))
            return
        first = _HoldUnauthorized(send)
        await self.app(scope, replay_body(body, receive), _AnthropicErrors(first))
        if first.held is None:
            return
        # The provider refused a credential we injected: refresh it once and replay the request once.
        if first.call_id and await self.on_unauthorized(first.call_id):
            await self.app(scope, replay_body(body, receive), _AnthropicErrors(send))
        else:
            await first.release()

    def _lifespan_send(self, send: Send) -> Send:
        """Runs `on_startup` once the app has started (on the server's event loop) and `on_shutdown` when it
        has shut down."""

        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and self.on_startup is not None:
                await self.on_startup()
            if (
                message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed")
                and self.on_shutdown
            ):
                self.on_shutdown()
            await send(message)

        return lifespan_send

    def _authorized(self, key: str) -> bool:
        return any(hmac.compare_digest(key.encode(), k.encode()) for k in self.keys())

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_error(
                    send, 413, f"request body is larger than {self.max_body // (1024 * 1024)} MB"
                )
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            await _send_error(send, 400, f"request body is not valid JSON: {exc}"[:300])
            return None
        if not isinstance(parsed, dict):
            await _send_error(send, 400, "request body must be a JSON object")
            return None
        return body


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` (already read) once, then the client's further messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _HoldUnauthorized:
    """A `send` that passes everything through, except a 401 response, which it holds back (with the
    LiteLLM call id it names) so the request can be retried with a refreshed credential."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.held: list[Message] | None = None
        self.call_id: str | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 401:
            self.held = [message]
            self.call_id = next(
                (
                    v.decode("latin-1")
                    for k, v in message.get("headers", [])
                    if k.lower() == b"x-litellm-call-id"
                ),
                None,
            )
            return
        if self.held is not None:
            self.held.append(message)
            return
        await self.send(message)

    async def release(self) -> None:
        for message in self.held or []:
            await self.send(message)


class _AnthropicErrors:
    """A `send` that rewrites error responses (status >= 400) into Anthropic's error shape."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message.get("status", 200) < 400:
                await self.send(message)
                return
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        await self._flush()

    async def _flush(self) -> None:
        assert self.start is not None
        status = int(self.start["status"])
        headers = [
            (k, v)
            for k, v in self.start.get("headers", [])
            if k.lower() not in (b"content-length", b"content-type", b"x-ccproxy-error-type")
        ]
        forced = next(
            (v.decode() for k, v in self.start.get("headers", []) if k.lower() == b"x-ccproxy-error-type"),
            None,
        )
        body = rewrite_error(status, b"".join(self.chunks), forced)
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def rewrite_error(status: int, raw: bytes, forced_type: str | None = None) -> bytes:
    """Any error body (Anthropic, OpenAI-style or plain text) as an Anthropic error body."""
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    message = raw.decode("utf-8", "replace").strip() or f"HTTP {status}"
    error_type = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            if parsed.get("type") == "error" and isinstance(error.get("type"), str):
                error_type = error["type"]
        elif isinstance(parsed.get("detail"), (str, dict)):
            detail = parsed["detail"]
            message = str(detail.get("error", detail) if isinstance(detail, dict) else detail)
        elif isinstance(error, str):
            message = error
    return anthropic_error_body(status, message, forced_type or error_type)
