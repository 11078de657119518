"""The real proxy server with our pipeline, driven with the anthropic SDK, routing to the fake provider."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from ccproxy_desktop.testing.configs import DEMO_MODELS
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy

pytestmark = pytest.mark.proxy

LONG_SYSTEM = "the quick brown fox jumps over the lazy dog " * 7000  # ~63k tokens with the tools below
WEB_SEARCH_TOOL = {
    "name": "WebSearch",
    "description": "Search the web",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
}
SERVER_WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("plain passthrough", {"model": "claude-opus-4-8"}, "claude-opus-4-8"),
    ("haiku -> background", {"model": "claude-haiku-4-5-20251001"}, "background"),
    (
        "thinking -> think",
        {"model": "claude-opus-4-8", "thinking": {"type": "enabled", "budget_tokens": 1024}},
        "think",
    ),
    (
        "WebSearch client tool stays",
        {"model": "claude-opus-4-8", "tools": [WEB_SEARCH_TOOL]},
        "claude-opus-4-8",
    ),
    (
        "adaptive thinking stays",
        {"model": "claude-opus-4-8", "thinking": {"type": "adaptive"}},
        "claude-opus-4-8",
    ),
    (
        "server web search -> web_search",
        {"model": "claude-opus-4-8", "tools": [SERVER_WEB_SEARCH]},
        "web_search",
    ),
    (
        "long context -> token_count",
        {"model": "claude-haiku-4-5-20251001", "system": LONG_SYSTEM},
        "token_count",
    ),
    (
        "disabled thinking stays",
        {"model": "claude-opus-4-8", "thinking": {"type": "disabled"}},
        "claude-opus-4-8",
    ),
]


def provider_model(route: str) -> str:
    """The model the fake provider receives for a model_name of the test config."""
    return DEMO_MODELS[route][0] if route in DEMO_MODELS else route


def _request(extra: dict[str, Any]) -> dict[str, Any]:
    return {"max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}], **extra}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("name", "extra", "route"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_routes_to_its_model(
    client: anthropic.Anthropic,
    provider: FakeProvider,
    name: str,
    extra: dict[str, Any],
    route: str,
    stream: bool,
) -> None:
    expected = provider_model(route)
    if stream:
        with client.messages.stream(**_request(extra)) as events:
            text = "".join(events.text_stream)
            final = events.get_final_message()
        assert final.stop_reason == "end_turn"
    else:
        message = client.messages.create(**_request(extra))
        text = "".join(block.text for block in message.content if block.type == "text")
    assert f"reply from {expected}" in text
    received = provider.wait_for_requests(1)[-1]
    assert received.json is not None and received.json["model"] == expected


def test_openai_format_route_answers_in_anthropic_format(
    client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    message = client.messages.create(**_request({"model": "claude-opus-4-8", "tools": [SERVER_WEB_SEARCH]}))
    assert message.type == "message" and message.content[0].type == "text"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    paths = {r.path for r in provider.requests}
    assert paths & {"/v1/responses", "/v1/chat/completions"}


def test_hook_failure_does_not_fail_the_request(client: anthropic.Anthropic, proxy: RunningProxy) -> None:
    for _ in range(3):
        message = client.messages.create(
            **_request({"model": "claude-haiku-4-5-20251001"}), extra_headers={"x-test-explode": "1"}
        )
        assert "reply from claude-haiku-4-5-20251001" in message.content[0].text
    log = proxy.log_text()
    assert log.count("hook ccproxy_desktop.testing.hooks.explode_on_header failed") == 1


def test_a_hook_can_refuse_with_a_client_error(client: anthropic.Anthropic, provider: FakeProvider) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(**_request({"model": "claude-opus-4-8"}), extra_headers={"x-test-refuse": "1"})
    assert caught.value.body["error"]["type"] == "permission_error"
    assert "refused by the test hook" in caught.value.body["error"]["message"]
    assert provider.requests == []


def _raw(proxy: RunningProxy, body: bytes | str, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    headers["x-api-key"] = proxy.key if key is None else key
    return httpx.post(f"{proxy.url}/v1/messages", content=body, headers=headers, timeout=30)


MALFORMED = [
    ("invalid json", b'{"model": "claude-sonnet-4-5", ', 400, "invalid_request_error"),
    ("not an object", b"[1, 2, 3]", 400, "invalid_request_error"),
    ("binary garbage", bytes(range(256)), 400, "invalid_request_error"),
    ("missing messages", b'{"model": "claude-sonnet-4-5", "max_tokens": 10}', 400, "invalid_request_error"),
    (
        "missing max_tokens",
        b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_request_error",
    ),
    (
        "wrong max_tokens type",
        b'{"model": "claude-sonnet-4-5", "max_tokens": "x", "messages": []}',
        400,
        "invalid_request_error",
    ),
    (
        "messages not a list",
        b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": "hi"}',
        400,
        "invalid_request_error",
    ),
    (
        "bad role",
        b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": 7, "content": "hi"}]}',
        400,
        "invalid_request_error",
    ),
    (
        "model not a string",
        b'{"model": 42, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_request_error",
    ),
    (
        "unknown model",
        b'{"model": "gpt-nonexistent", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}',
        404,
        "not_found_error",
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "error_type"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_anthropic_errors(
    proxy: RunningProxy, provider: FakeProvider, name: str, body: bytes, status: int, error_type: str
) -> None:
    response = _raw(proxy, body)
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["error"]["message"]
    assert provider.requests == []
    assert proxy.control.healthy(proxy.url)


@pytest.mark.parametrize(
    ("key", "status", "error_type"),
    [("", 401, "authentication_error"), ("sk-wrong", 403, "permission_error")],
    ids=["missing", "wrong"],
)
def test_bad_key_is_refused(
    proxy: RunningProxy, provider: FakeProvider, key: str, status: int, error_type: str
) -> None:
    response = _raw(proxy, b'{"model": "claude-opus-4-8", "max_tokens": 5, "messages": []}', key=key)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert provider.requests == []


def test_sdk_sees_unknown_model_as_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(**_request({"model": "gpt-nonexistent"}))
    assert "gpt-nonexistent" in caught.value.body["error"]["message"]


def test_provider_errors_reach_the_client_in_anthropic_shape(
    client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    from ccproxy_desktop.testing.fake_provider import Behaviour

    provider.scenario.push(Behaviour(kind="status", status=400), times=1)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**_request({"model": "claude-opus-4-8"}))
    assert caught.value.body["type"] == "error"
