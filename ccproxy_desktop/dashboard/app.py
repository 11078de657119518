"""The dashboard's HTTP side, called by the proxy's `Guard` for every path under `/ccproxy/dashboard`.

Routes (all GET unless said):
- `login` (+ `static/login.js`): the page that reads the one-time token from the URL fragment and redeems it;
- `POST api/token` (master key, no browser): mints a one-time token, answers `{"url": ...}`;
- `POST api/session` (`{"token": ...}`): redeems it, sets the session cookie;
- with the cookie: `/` (the app), `static/*`, `api/now`, `api/requests`, `api/spend`, `api/routing`, `api/ab`,
  `api/health`, `api/config`, `POST api/model`, and `api/events` (server-sent events: new requests, events,
  changes of the Now page).
Queries run in worker threads, never on the proxy's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from . import PREFIX, data
from .auth import Sessions, TokenBox, browser_refusal, cookie_header, cookie_name, cookie_value, session_key

__all__ = ["DashboardApp", "is_dashboard_path"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
]
POLL_SECONDS = 1.0
MAX_JSON = 4096


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _static(name: str) -> bytes | None:
    if "/" in name or name.startswith(".") or not name:
        return None
    try:
        return resources.files("ccproxy_desktop.dashboard").joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, OSError):
        return None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, value: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await _send(send, status, json.dumps(value, default=str).encode(), extra=extra)


async def _error(send: Send, status: int, message: str) -> None:
    await _json(send, status, {"error": message})


async def _read_json(receive: Receive) -> Any:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValueError("client left")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_JSON:
            raise ValueError("body too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return json.loads(b"".join(chunks) or b"{}")


class DashboardApp:
    """Serves the dashboard of the running `ProxyApp` (`proxy`)."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy
        self.paths = proxy.paths
        self.tokens = TokenBox(self.paths.run_dir)
        self.reader = data.Reader(self.paths.ledger_db)
        self._sessions: Sessions | None = None
        self._keys: frozenset[str] | None = None

    @staticmethod
    def handles(path: str) -> bool:
        return is_dashboard_path(path)

    def sessions(self, guard: Any) -> Sessions:
        keys = frozenset(guard.keys())
        if self._sessions is None or keys != self._keys:  # a new master key ends every session
            self._sessions = Sessions(session_key(keys, self.paths.state_file))
            self._keys = keys
        return self._sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send, guard: Any) -> None:
        headers = list(scope.get("headers", []))
        refusal = browser_refusal(scope.get("client"), headers)
        if refusal:
            await _error(send, 403, refusal)
            return
        method = scope.get("method", "GET")
        sub = scope.get("path", "")[len(PREFIX) :] or "/"
        if sub == "/api/token":
            await self._mint(scope, headers, method, send, guard)
            return
        if sub == "/login" and method == "GET":
            await self._page(send, "login.html")
            return
        if sub == "/static/login.js" and method == "GET":
            await self._page(send, "login.js")
            return
        if sub == "/api/session" and method == "POST":
            await self._redeem(scope, headers, receive, send, guard)
            return
        name = cookie_name(self._port(scope))
        if not self.sessions(guard).valid(cookie_value(headers, name)):
            if sub == "/" and method == "GET":
                await _send(
                    send,
                    401,
                    b"Open the dashboard with `ccproxy dashboard` (or the tray's Dashboard).\n",
                    "text/plain; charset=utf-8",
                )
            else:
                await _error(send, 401, "not signed in: open the dashboard with `ccproxy dashboard`")
            return
        await self._route(scope, sub, method, receive, send)

    @staticmethod
    def _port(scope: Scope) -> int:
        server = scope.get("server")
        return int(server[1]) if server else 0

    async def _page(self, send: Send, name: str) -> None:
        body = _static(name)
        if body is None:
            await _error(send, 404, "no such file")
            return
        suffix = name[name.rfind(".") :]
        await _send(send, 200, body, STATIC_TYPES.get(suffix, "application/octet-stream"))

    async def _mint(
        self, scope: Scope, headers: list[tuple[bytes, bytes]], method: str, send: Send, guard: Any
    ) -> None:
        if method != "POST":
            await _error(send, 405, "POST with the proxy's master key")
            return
        if any(k.lower() in (b"origin", b"sec-fetch-site", b"cookie") for k, _ in headers):
            await _error(send, 403, "tokens are minted for the command line, not for browsers")
            return
        from ..proxy.guard import client_keys

        if not any(guard.is_master(key) for key in client_keys(scope)):
            await _error(send, 403, "minting a dashboard token needs the proxy's master key")
            return
        token = await asyncio.to_thread(self.tokens.mint)
        host = next((v.decode("latin-1") for k, v in headers if k.lower() == b"host"), "")
        await _json(
            send, 200, {"url": f"http://{host}{PREFIX}/login#token={token}", "expires_in": self.tokens.ttl}
        )

    async def _redeem(
        self, scope: Scope, headers: list[tuple[bytes, bytes]], receive: Receive, send: Send, guard: Any
    ) -> None:
        try:
            body = await _read_json(receive)
        except ValueError:
            await _error(send, 400, 'send {"token": ...} as JSON')
            return
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not await asyncio.to_thread(self.tokens.redeem, token):
            await _error(
                send,
                403,
                "this dashboard link was already used or has expired: run `ccproxy dashboard` again",
            )
            return
        value = self.sessions(guard).issue()
        cookie = cookie_header(cookie_name(self._port(scope)), value)
        await _json(send, 200, {"ok": True, "location": f"{PREFIX}/"}, [(b"set-cookie", cookie)])

    # -- signed in -------------------------------------------------------------------------------------

    async def _route(self, scope: Scope, sub: str, method: str, receive: Receive, send: Send) -> None:
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        if sub == "/" and method == "GET":
            await self._page(send, "index.html")
            return
        if sub.startswith("/static/") and method == "GET":
            await self._page(send, sub.removeprefix("/static/"))
            return
        if sub == "/api/events" and method == "GET":
            await self._events(query, receive, send)
            return
        if sub == "/api/model" and method == "POST":
            await self._model(receive, send)
            return
        handler = {
            "/api/now": self._now,
            "/api/requests": self._requests,
            "/api/spend": self._spend,
            "/api/routing": self._routing,
            "/api/ab": self._ab,
            "/api/health": self._health,
            "/api/config": self._config,
        }.get(sub)
        if handler is None or method != "GET":
            await _error(send, 404, f"{method} {PREFIX}{sub} is not served")
            return
        try:
            result = await asyncio.to_thread(handler, query)
        except ValueError as exc:
            await _error(send, 400, str(exc))
            return
        except Exception as exc:  # a locked or missing ledger: say so, don't drop the connection
            log.exception("dashboard %s failed", sub)
            await _error(send, 503, f"{type(exc).__name__}: {exc}"[:300])
            return
        await _json(send, 200, result)

    def _status(self) -> dict[str, Any]:
        status = dict(self.proxy.status())
        status["started_at"] = self.proxy.started
        status["warnings"] = [str(w) for w in self.proxy.warnings]
        return status

    def _now(self, query: dict[str, str]) -> dict[str, Any]:
        proxy = self.proxy
        return data.now_page(self.paths, proxy.settings, proxy.accounting.ledger, self.reader, self._status())

    def _requests(self, query: dict[str, str]) -> dict[str, Any]:
        before = int(query["before"]) if query.get("before", "").isdigit() else None
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 50
        return data.requests_page(self.reader, before, limit)

    def _spend(self, query: dict[str, str]) -> dict[str, Any]:
        return data.spend_page(
            self.proxy.settings,
            self.proxy.accounting.ledger,
            self.reader,
            query.get("period", "month"),
            query.get("by", "model"),
            query.get("since"),
            query.get("until"),
        )

    def _routing(self, query: dict[str, str]) -> dict[str, Any]:
        current = self.proxy.current
        return data.routing_page(
            current.settings, current.prices, self.reader, query.get("period", "month"), current.deployments
        )

    def _ab(self, query: dict[str, str]) -> dict[str, Any]:
        return data.ab_page(self.proxy.settings, self.reader)

    def _health(self, query: dict[str, str]) -> dict[str, Any]:
        return data.health_page(self.reader, query.get("period", "today"))

    def _config(self, query: dict[str, str]) -> dict[str, Any]:
        return data.config_page(self.paths, self.reader)

    async def _model(self, receive: Receive, send: Send) -> None:
        try:
            body = await _read_json(receive)
            if not isinstance(body, dict):
                raise ValueError('send {"model": NAME or null, "force_all": bool}')
            model = body.get("model")
            if model is not None and not isinstance(model, str):
                raise ValueError("model must be a name or null")
            result = await asyncio.to_thread(
                data.set_model, self.paths, self.proxy.settings, model, bool(body.get("force_all", False))
            )
        except ValueError as exc:
            await _error(send, 400, str(exc))
            return
        await _json(send, 200, result)

    async def _events(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        """Server-sent events until the browser leaves: `request` (a new ledger row), `event` (a ledger
        event), `now` (the Now page changed: refetch). Polls the ledger's primary keys once a second."""
        last_request, last_event = await asyncio.to_thread(data.last_ids, self.reader)
        if query.get("after", "").isdigit():
            last_request = min(last_request, int(query["after"]))
        headers = [(b"content-type", b"text/event-stream"), *SECURITY_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
        left = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            left.set()

        watcher = asyncio.ensure_future(watch())
        override = self.paths.model_override_file
        stamp = _stamp(override)
        idle = 0.0
        try:
            while not left.is_set():
                rows = await asyncio.to_thread(data.requests_after, self.reader, last_request)
                events = await asyncio.to_thread(self.proxy.accounting.ledger.events, last_event)
                frames = []
                for row in rows:
                    last_request = row["id"]
                    frames.append(b"event: request\ndata: " + json.dumps(row).encode() + b"\n\n")
                for event in events:
                    last_event = event.id
                    payload = {"id": event.id, "ts": event.ts, "kind": event.kind}
                    frames.append(b"event: event\ndata: " + json.dumps(payload).encode() + b"\n\n")
                new_stamp = _stamp(override)
                if rows or events or new_stamp != stamp:
                    stamp = new_stamp
                    frames.append(b"event: now\ndata: {}\n\n")
                idle = 0.0 if frames else idle + POLL_SECONDS
                if idle >= 15:
                    frames.append(b": keep-alive\n\n")
                    idle = 0.0
                if frames:
                    await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(left.wait(), POLL_SECONDS)
        except OSError:
            pass
        finally:
            watcher.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _stamp(path: Any) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
