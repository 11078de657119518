"""The retry layer as an ASGI app, in front of a scripted fake app: what the client receives, how often the
app is called, how long the layer waits, and the terminating error event of a broken stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from ccproxy_desktop.proxy.retry import RetryPolicy
from ccproxy_desktop.proxy.retrying import RetryingApp, current_attempt

Message = dict[str, Any]
Reply = Callable[[Any], list[Message]]

POLICY = RetryPolicy(max_attempts=3, initial_delay=0.5, multiplier=3.0, max_delay=10, fallback_model="backup")


def error(status: int, headers: list[tuple[bytes, bytes]] | None = None) -> Reply:
    body = json.dumps({"error": {"message": f"failed {status}"}}).encode()
    return lambda _attempt: [
        {"type": "http.response.start", "status": status, "headers": headers or []},
        {"type": "http.response.body", "body": body},
    ]


def ok(text: str = "ok") -> Reply:
    return lambda attempt: [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]},
        {
            "type": "http.response.body",
            "body": json.dumps({"text": text, "model": attempt.fallback_model}).encode(),
        },
    ]


def sse(*frames: bytes) -> Reply:
    return lambda _attempt: [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]},
        *({"type": "http.response.body", "body": f, "more_body": True} for f in frames),
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]


class ScriptedApp:
    """Answers each call with the next reply of `script` and remembers the body and the attempt it saw."""

    def __init__(self, *script: Reply, raise_after: int | None = None) -> None:
        self.script = list(script)
        self.calls: list[tuple[bytes, Any]] = []
        self.raise_after = raise_after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        attempt = current_attempt()
        self.calls.append((body, attempt))
        for index, message in enumerate(self.script.pop(0)(attempt)):
            if self.raise_after is not None and index == self.raise_after:
                raise RuntimeError("upstream broke")
            await send(message)


def run(
    app: ScriptedApp,
    policy: RetryPolicy | None = POLICY,
    path: str = "/v1/messages",
    client_leaves: bool = False,
) -> tuple[list[Message], list[float]]:
    """Serve one request; the client sends its body, then waits (or, with `client_leaves`, disconnects)."""
    sent: list[Message] = []
    waits: list[float] = []
    received = 0

    async def receive() -> Message:
        nonlocal received
        received += 1
        if received == 1:
            return {"type": "http.request", "body": b'{"model": "m"}', "more_body": False}
        if client_leaves:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # a client that stays sends nothing more
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    layer = RetryingApp(app, lambda: policy, sleep=sleep)
    asyncio.run(layer({"type": "http", "method": "POST", "path": path}, receive, send))
    return sent, waits


def status_of(sent: list[Message]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def body_of(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_retries_with_backoff_until_success() -> None:
    app = ScriptedApp(error(500), error(529), ok())
    sent, waits = run(app)
    assert status_of(sent) == 200 and b'"ok"' in body_of(sent)
    assert waits == [0.5, 1.5]
    assert [a.number for _, a in app.calls] == [0, 1, 2]
    assert all(body == b'{"model": "m"}' for body, _ in app.calls)  # every try gets the whole body


def test_falls_back_after_the_last_try() -> None:
    app = ScriptedApp(error(503), error(503), error(503), ok())
    sent, waits = run(app)
    assert status_of(sent) == 200 and b'"model": "backup"' in body_of(sent)
    assert waits == [0.5, 1.5, 0.0]
    assert app.calls[-1][1].fallback_model == "backup"


def test_the_last_error_reaches_the_client() -> None:
    app = ScriptedApp(error(529), error(529), error(529), error(529))
    sent, _ = run(app)
    assert status_of(sent) == 529 and b"failed 529" in body_of(sent)
    assert len(app.calls) == 4


@pytest.mark.parametrize(
    "reply",
    [error(400), error(401), error(404), error(429, [(b"x-ccproxy-error-type", b"rate_limit_error")])],
    ids=["400", "401", "404", "our-own-429"],
)
def test_client_errors_and_our_refusals_are_not_retried(reply: Reply) -> None:
    app = ScriptedApp(reply)
    sent, waits = run(app)
    assert status_of(sent) >= 400 and waits == [] and len(app.calls) == 1


@pytest.mark.parametrize(
    ("policy", "path"),
    [(RetryPolicy(enabled=False), "/v1/messages"), (None, "/v1/messages"), (POLICY, "/v1/models")],
)
def test_no_retries_when_disabled_or_not_a_model_request(policy: RetryPolicy | None, path: str) -> None:
    app = ScriptedApp(error(529))
    sent, _ = run(app, policy, path)
    assert status_of(sent) == 529 and len(app.calls) == 1


def test_a_stream_without_message_stop_gets_an_error_event() -> None:
    app = ScriptedApp(sse(b"event: message_start\ndata: {}\n\n", b"event: content_block_delta\ndata: {}\n\n"))
    sent, _ = run(app)
    body = body_of(sent)
    assert body.endswith(b"\n\n") and b"event: error\ndata: " in body
    data = json.loads(body.split(b"event: error\ndata: ")[1])
    assert data["type"] == "error" and data["error"]["type"] == "api_error"
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


@pytest.mark.parametrize(
    "last",
    [b"event: message_stop\ndata: {}\n\n", b'event: error\ndata: {"type":"error"}\n\n'],
    ids=["stop", "error"],
)
def test_a_complete_stream_is_left_alone(last: bytes) -> None:
    sent, _ = run(ScriptedApp(sse(b"event: message_start\ndata: {}\n\n", last)))
    assert body_of(sent).count(b"event: ") == 2


def test_a_stream_whose_app_raises_after_it_started_ends_cleanly() -> None:
    app = ScriptedApp(sse(b"event: message_start\ndata: {}\n\n", b"event: ping\ndata: {}\n\n"), raise_after=2)
    sent, waits = run(app)
    assert b"event: error" in body_of(sent) and sent[-1]["more_body"] is False
    assert len(app.calls) == 1 and waits == []


def test_no_retry_once_the_client_has_left() -> None:
    app = ScriptedApp(error(529), ok())
    sent, _ = run(app, client_leaves=True)
    assert len(app.calls) == 1 and sent == []
