"""A Gemini route through the real server gets Claude Code's `cache_control` marks without them.

LiteLLM turns Anthropic `cache_control` on a prompt of 1,024 tokens or more into Google's explicit context
caching: it lists and creates a `cachedContents` resource before each call, at
`API_BASE/models/MODEL:cachedContents` when config.yaml sets an `api_base` (as `ccproxy provider add gemini
--api-base URL` does), which is no Google endpoint: every Claude Code request failed with 404 before the model
was asked. The proxy drops the marks on Gemini routes (Gemini caches repeated prefixes by itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

MARK = {"type": "ephemeral"}
LONG_SYSTEM = "You are Claude Code. " + " ".join(f"Rule {i}: keep the code tidy." for i in range(800))


@pytest.fixture(scope="module")
def proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(
        tmp_path_factory.mktemp("gemini") / "cfg",
        provider.base_url,
        free_port(),
        models={"gemini": ("gemini-2.5-flash", "gemini")},
        ccproxy={"retry_enabled": False, "default_model_passthrough": True},
    )
    with running_proxy(paths) as running:
        yield running


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_cache_marked_claude_code_prompt_reaches_gemini_without_cached_contents(
    proxy: RunningProxy, provider: FakeProvider, stream: bool
) -> None:
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=120)
    request: dict[str, Any] = {
        "model": "gemini",
        "max_tokens": 100,
        "system": [{"type": "text", "text": LONG_SYSTEM, "cache_control": MARK}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hello", "cache_control": MARK}]},
        ],
    }
    if stream:
        with client.messages.stream(**request) as events:
            reply = events.get_final_message()
    else:
        reply = client.messages.create(**request)

    assert reply.stop_reason == "end_turn"
    assert "reply from gemini-2.5-flash" in reply.content[0].text  # type: ignore[union-attr]
    paths = [r.path for r in provider.requests]
    action = "streamGenerateContent" if stream else "generateContent"
    assert paths == [f"/v1beta/models/gemini-2.5-flash:{action}"], paths  # no cachedContents call first
    body = provider.requests[-1].raw.decode()
    assert "Rule 799: keep the code tidy." in body and "cachedContent" not in body
