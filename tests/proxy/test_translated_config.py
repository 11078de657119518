"""What LiteLLM's Router is given for the translated path, and which requested names the proxy strips."""

from __future__ import annotations

import json
from pathlib import Path

from ccproxy_desktop.config.loader import Settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import CCProxySection, LiteLLMConfig, ServerSection
from ccproxy_desktop.proxy.deployments import Deployments
from ccproxy_desktop.proxy.translated import _router_config, caches_by_cached_contents, without_cache_control

MODELS = [
    {
        "model_name": "lmstudio/qwen3-8b",
        "litellm_params": {"model": "openai/qwen3-8b", "api_base": "http://x/v1"},
    },
    # A rule's target set by `ccproxy route think lmstudio/qwen3-8b`: an alias of the entry above.
    {"model_name": "think", "litellm_params": {"model": "lmstudio/qwen3-8b"}},
    # Not an alias: a real deployment with nothing but its model (the key comes from the environment).
    {"model_name": "default", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}},
    {"model_name": "anthropic/claude-sonnet-4-6", "litellm_params": {"model": "anthropic/claude-sonnet-4-6"}},
    {"model_name": "claude-*", "litellm_params": {"model": "anthropic/claude-*"}},
]


def settings() -> Settings:
    return Settings(
        paths=ConfigPaths(Path("/home/me/.ccproxy")),
        server=ServerSection(),
        ccproxy=CCProxySection(),
        litellm=LiteLLMConfig.model_validate({"model_list": MODELS}),
    )


def test_aliases_stay_with_our_router_and_real_entries_reach_litellm() -> None:
    model_list, _ = _router_config(settings())
    names = [entry["model_name"] for entry in model_list]
    assert names == ["lmstudio/qwen3-8b", "default", "anthropic/claude-sonnet-4-6", "claude-*"]


def test_a_model_named_with_the_anthropic_prefix_is_served_by_that_name() -> None:
    deployments = Deployments(settings().litellm.model_list, {})
    assert deployments.serves_exactly("anthropic/claude-sonnet-4-6")
    assert not deployments.serves_exactly("claude-sonnet-4-6")  # only the wildcard serves it
    assert deployments.entries_for("claude-sonnet-4-6")[0].model_name == "claude-*"


def test_gemini_routes_lose_cache_control_and_others_keep_it() -> None:
    assert caches_by_cached_contents("gemini", "gemini-2.5-flash")
    assert caches_by_cached_contents("vertex_ai", "gemini-3-pro-preview")
    assert not caches_by_cached_contents("vertex_ai", "claude-sonnet-4-5@20250929")  # Anthropic's caching
    assert not caches_by_cached_contents("openai", "gpt-5.1")
    mark = {"type": "ephemeral"}
    body = {
        "model": "default",
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": mark}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "read", "cache_control": mark}]},
            {"role": "user", "content": "long", "cache_control": mark},  # OpenAI-style, on the message
        ],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}, "cache_control": mark}],
        "max_tokens": 10,
    }
    cleaned = without_cache_control(body)
    assert "cache_control" not in json.dumps(cleaned)
    assert cleaned == {
        "model": "default",
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "read"}]},
            {"role": "user", "content": "long"},
        ],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
        "max_tokens": 10,
    }
    assert "cache_control" in json.dumps(body)  # the request itself is left as it was
    assert without_cache_control({"system": "plain", "messages": []}) == {"system": "plain", "messages": []}
