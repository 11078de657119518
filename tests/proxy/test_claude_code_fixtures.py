"""Requests the current Claude Code CLI sends (captured from 2.1.197, tests/fixtures/claude_code), replayed
through the real proxy: each one is served, and routed where the default rules say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy

from .test_routing_e2e import provider_model

pytestmark = pytest.mark.proxy

FIXTURES = Path(__file__).parent.parent / "fixtures" / "claude_code"

EXPECTED_ROUTES = {
    "background_haiku.json": "background",
    "subagent_explore.json": "background",
    "web_fetch_summary.json": "background",
    "main_haiku.json": "background",
    "thinking.json": "think",
    "web_search.json": "web_search",
    "main_streaming.json": "claude-opus-4-8",
    "main_tool_result_turn.json": "claude-opus-4-8",
    "main_sonnet.json": "claude-sonnet-5",
    "title_generation.json": "claude-opus-4-8",
    "thinking_disabled.json": "claude-opus-4-8",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def replay(proxy: RunningProxy, fixture: dict[str, Any]) -> httpx.Response:
    headers = {
        k: v
        for k, v in fixture["headers"].items()
        if k.lower() not in {"x-api-key", "authorization", "host", "content-length", "accept-encoding"}
    }
    headers["x-api-key"] = proxy.key
    return httpx.post(f"{proxy.url}{fixture['path']}", json=fixture["body"], headers=headers, timeout=60)


@pytest.mark.parametrize("name", sorted(EXPECTED_ROUTES))
def test_claude_code_request_routes(proxy: RunningProxy, provider: FakeProvider, name: str) -> None:
    fixture = load(name)
    response = replay(proxy, fixture)
    assert response.status_code == 200, response.text
    if fixture["body"].get("stream"):
        assert "event: message_stop" in response.text
    expected = provider_model(EXPECTED_ROUTES[name])
    received = provider.wait_for_requests(1)[-1]
    assert received.json is not None and received.json["model"] == expected


def test_unknown_custom_model_is_not_found(proxy: RunningProxy, provider: FakeProvider) -> None:
    response = replay(proxy, load("main_custom_model.json"))
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_count_tokens_answers(proxy: RunningProxy) -> None:
    response = replay(proxy, load("count_tokens.json"))
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] > 0


def test_session_id_is_taken_from_claude_code_metadata(proxy: RunningProxy) -> None:
    fixture = load("main_streaming.json")
    session = json.loads(fixture["body"]["metadata"]["user_id"])["session_id"]
    assert replay(proxy, fixture).status_code == 200
    assert session in fixture["headers"].get("X-Claude-Code-Session-Id", session)
