"""Which requests share a cache entry: the canonical key, and LiteLLM's own key it replaced."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccproxy_desktop.cache.key import canonical_request, model_of_key, request_key

FIELDS = frozenset(
    {"messages", "system", "tools", "max_tokens", "temperature", "stream", "metadata", "thinking"}
)
BASE: dict[str, Any] = {
    "max_tokens": 50,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "system": "be brief",
}


def key(request: dict[str, Any], model: str = "default") -> str:
    return request_key(model, request, FIELDS)


@pytest.mark.parametrize(
    "same",
    [
        {
            "system": "be brief",
            "messages": [{"content": [{"text": "hi", "type": "text"}], "role": "user"}],
            "max_tokens": 50,
        },
        {**BASE, "metadata": {"user_id": "session-1"}},
        {**BASE, "stream": False},
        {**BASE, "temperature": None},
        {
            **BASE,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
                }
            ],
        },
        {**BASE, "litellm_call_id": "abc", "api_key": "sk-secret"},  # not an Anthropic request field
    ],
    ids=["key order", "metadata", "stream false", "None field", "cache_control", "litellm internals"],
)
def test_irrelevant_differences_share_a_key(same: dict[str, Any]) -> None:
    assert key(same) == key(BASE)


@pytest.mark.parametrize(
    "different",
    [
        {**BASE, "max_tokens": 51},
        {**BASE, "stream": True},
        {**BASE, "temperature": 0.0},
        {**BASE, "system": "be long"},
        {**BASE, "messages": [{"role": "user", "content": "hi"}]},
        {**BASE, "tools": [{"name": "t", "input_schema": {"type": "object"}}]},
        {**BASE, "thinking": {"type": "enabled", "budget_tokens": 1024}},
    ],
    ids=["max_tokens", "stream", "temperature", "system", "content shape", "tools", "thinking"],
)
def test_differences_that_can_change_the_answer_change_the_key(different: dict[str, Any]) -> None:
    assert key(different) != key(BASE)


def test_the_routed_model_is_in_the_key() -> None:
    assert key(BASE, "think") != key(BASE, "default")
    assert model_of_key(key(BASE, "claude-*")) == "claude-*"
    assert model_of_key(key(BASE, "ns:model")) == "ns:model"


def test_the_canonical_form_holds_no_ignored_field() -> None:
    text = canonical_request("default", {**BASE, "metadata": {"user_id": "u-123"}}, FIELDS)
    assert "u-123" not in text
    assert text.startswith('{"max_tokens":50,')


def test_litellm_own_key_depends_on_key_order() -> None:
    """Why we give LiteLLM our key: its own hashes `str()` of the values, so the same message with its keys
    in another order is another entry (LiteLLM 1.108.7)."""
    from litellm.caching.caching import Cache

    cache = Cache(type="local", supported_call_types=["anthropic_messages"])
    reordered = {**BASE, "messages": [{"content": [{"text": "hi", "type": "text"}], "role": "user"}]}
    litellm_keys = {cache.get_cache_key(model="m", **r) for r in (BASE, reordered)}
    assert len(litellm_keys) == 2
    assert key(BASE) == key(reordered)


@pytest.mark.parametrize(
    "blocks",
    [
        [{"cache_control": {"type": "ephemeral"}, "text": "a", "type": "text"}],
        [{"text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}, "type": "text"}],
        [{"text": "a", "type": "text", "cache_control": {"type": "ephemeral"}}],
        [{"text": 'a "cache_control":{x}', "type": "text"}],
    ],
    ids=["first member", "middle member", "last member", "marker inside a text"],
)
def test_cache_control_is_removed_wherever_it_is_and_only_there(blocks: list[dict[str, Any]]) -> None:
    text = canonical_request("m", {"messages": [{"role": "user", "content": blocks}]}, FIELDS)
    parsed = json.loads(text)
    content = parsed["messages"][0]["content"][0]
    assert "cache_control" not in content
    assert content["text"] == blocks[0]["text"]
