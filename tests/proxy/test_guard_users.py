"""The guard's part in user keys, with a fake ASGI app behind it: a user's key is let through, and headers
of a refusal that LiteLLM's error response drops (retry-after) are put back by call id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ccproxy_desktop.proxy.guard import Guard


class RefusingApp:
    """Answers every request 429 with a call id, as LiteLLM does for our handler's refusal."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await receive()
        body = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"x-litellm-call-id", b"call-1")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def call(
    guard: Guard, key: str, method: str = "POST", path: str = "/v1/messages"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b'{"model": "m"}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"host", b"127.0.0.1:4000"), (b"x-api-key", key.encode())],
    }
    asyncio.run(guard(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body)


@pytest.mark.parametrize(("key", "status"), [("master", 429), ("user-key", 429), ("stranger", 403)])
def test_user_keys_pass_and_refusal_headers_come_back(key: str, status: int) -> None:
    given: dict[str, dict[str, str]] = {"call-1": {"retry-after": "12"}}
    app = RefusingApp()
    guard = Guard(
        app,
        keys=lambda: {"master"},
        accept=lambda k: k == "user-key",
        error_headers=lambda call_id: given.pop(call_id, {}),
    )
    got, headers, body = call(guard, key)
    assert got == status
    if status == 429:
        assert headers["retry-after"] == "12"
        assert body["error"]["type"] == "rate_limit_error"
    else:
        assert app.calls == 0 and "not accepted" in body["error"]["message"]


def test_the_proxy_status_answers_the_master_key_only() -> None:
    app = RefusingApp()  # stands in for LiteLLM, which refuses a user key on a non-model route
    guard = Guard(app, keys=lambda: {"master"}, accept=lambda k: k == "user-key", status=lambda: {"pid": 1})
    got, _, body = call(guard, "master", "GET", "/ccproxy/status")
    assert (got, body, app.calls) == (200, {"pid": 1}, 0)
    got, _, _ = call(guard, "user-key", "GET", "/ccproxy/status")
    assert got != 200 and app.calls == 1
