"""The guard's part in user keys, with a small ASGI app behind it: the master key and a user's key are let
through with the exchange naming who asked (our own `x-ccproxy-key` first), any other key gets a 403."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ccproxy_desktop.proxy.exchange import exchange_of
from ccproxy_desktop.proxy.guard import Guard


class WhoApp:
    """Answers 200 with who the guard said asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        exchange = exchange_of(scope)
        body = json.dumps({"user": exchange.user, "master": exchange.key == "master"}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def call(guard: Guard, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [(b"host", b"127.0.0.1:4000"), *headers],
    }
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def guard(app: WhoApp) -> Guard:
    return Guard(app, keys=lambda: {"master"}, identify=lambda k: "alice" if k == "user-key" else None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"x-api-key", b"master")], {"user": None, "master": True}),
        ([(b"authorization", b"Bearer user-key")], {"user": "alice", "master": False}),
        # a client bringing its own provider credential proves itself with x-ccproxy-key
        (
            [(b"authorization", b"Bearer sk-ant-oat-own"), (b"x-ccproxy-key", b"master")],
            {"user": None, "master": True},
        ),
    ],
)
def test_proxy_keys_are_let_through_naming_who_asked(
    headers: list[tuple[bytes, bytes]], expected: dict[str, Any]
) -> None:
    status, body = call(guard(WhoApp()), headers)
    assert (status, body) == (200, expected)


def test_other_keys_get_a_403_and_never_reach_the_app() -> None:
    app = WhoApp()
    status, body = call(guard(app), [(b"x-api-key", b"stranger")])
    assert status == 403 and app.calls == 0 and "not accepted" in body["error"]["message"]
