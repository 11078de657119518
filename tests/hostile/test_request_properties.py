"""The classifier on hostile requests: request validation, building the `RequestContext`, the built-in
rules and the whole default pipeline. Any JSON body is either refused with a 400 naming a field, or
classified and routed without a hook or rule failing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.pipeline.context import Reject, RequestContext
from ccproxy_desktop.pipeline.pipeline import Pipeline, build_pipeline
from ccproxy_desktop.pipeline.tokens import TokenCounter
from ccproxy_desktop.proxy.adapter import (
    OPENAI_CALL_TYPES,
    apply_to_litellm,
    context_from_litellm,
    validate_anthropic_request,
)
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.strategies import anthropic_requests, json_values, openai_requests

DEEP = 5000


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The default rules and hooks of a fresh install, over the demo model list."""
    paths = write_fake_config(tmp_path_factory.mktemp("cfg"), "http://127.0.0.1:9", free_port())
    built, _ = build_pipeline(load_settings(paths), TokenCounter())
    return built


def _classify(pipeline: Pipeline, ctx: RequestContext) -> None:
    """Run every rule and the pipeline: only `Reject` may come out, and no hook may fail."""
    for name, rule in pipeline.env.rules:
        assert isinstance(rule.evaluate(ctx, pipeline.env), bool), name
        assert isinstance(asyncio.run(rule.evaluate_async(ctx, pipeline.env)), bool), name
    try:
        asyncio.run(pipeline.run(ctx))
    except Reject as reject:
        assert 400 <= reject.status < 500 and reject.message
        return
    assert not ctx.failed_hooks, ctx.failed_hooks
    assert ctx.label is not None and ctx.routed_model


@given(body=anthropic_requests() | st.dictionaries(st.text(max_size=10), json_values, max_size=6))
@example(body={"model": "x", "max_tokens": True, "messages": []})
@example(body={"model": "x", "max_tokens": 2**70, "messages": [], "thinking": {"budget_tokens": 2**70}})
@example(body={"model": "claude-haiku", "max_tokens": 1, "messages": [], "metadata": {"user_id": "{"}})
def test_any_anthropic_body_is_refused_with_400_or_classified(
    pipeline: Pipeline, body: dict[str, Any]
) -> None:
    try:
        validate_anthropic_request(body)
    except Reject as reject:
        assert reject.status == 400 and reject.error_type == "invalid_request_error"
        assert isinstance(reject.message, str) and 0 < len(reject.message) <= 300
        return
    ctx = context_from_litellm(body, "anthropic_messages")
    assert ctx.model == body["model"] and ctx.max_tokens == body["max_tokens"]
    _classify(pipeline, ctx)
    data = dict(body)
    apply_to_litellm(ctx, data)
    assert data["model"] == ctx.target_model


@given(
    body=openai_requests() | st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    call_type=st.sampled_from(sorted(OPENAI_CALL_TYPES)),
)
@example(body={"reasoning": "high", "input": 5}, call_type="aresponses")
@example(body={"messages": {"role": "user"}, "thinking": []}, call_type="acompletion")
def test_any_openai_body_builds_a_context_and_is_classified(
    pipeline: Pipeline, body: dict[str, Any], call_type: str
) -> None:
    ctx = context_from_litellm(body, call_type)
    assert isinstance(ctx.messages, list) and isinstance(ctx.tools, list)
    _classify(pipeline, ctx)


@given(
    system=json_values,
    tools=json_values,
    messages=json_values,
    threshold=st.integers(0, 10**6),
)
def test_token_counter_takes_any_json(system: Any, tools: Any, messages: Any, threshold: int) -> None:
    counter = TokenCounter()
    total = counter.count_request(system, tools, messages)
    assert isinstance(total, int) and total >= 0
    assert counter.exceeds(system, tools, messages, threshold) == (total > threshold)


DEEP_BODIES = {
    "system": {"system": _nested(DEEP, "x")},
    "text block": {"messages": [{"role": "user", "content": [{"type": "text", "text": _nested(DEEP, 1)}]}]},
    "tool result": {
        "messages": [{"role": "user", "content": [{"type": "tool_result", "content": _nested(DEEP, "x")}]}]
    },
    "tool schema": {"tools": [{"name": "t", "input_schema": _nested(DEEP, {})}]},
    "metadata": {"metadata": {"user_id": "u", "tags": _nested(DEEP, "y")}},
    "thinking": {"thinking": {"type": "enabled", "budget_tokens": 1024, "extra": _nested(DEEP, 1)}},
}


@pytest.mark.parametrize("extra", DEEP_BODIES.values(), ids=list(DEEP_BODIES))
def test_a_body_nested_deeper_than_python_recursion_is_classified(
    pipeline: Pipeline, extra: dict[str, Any]
) -> None:
    """The proxy's JSON parser refuses such a body, but the pipeline must not depend on it."""
    body = {"model": "claude-opus-4-8", "max_tokens": 5, "messages": [], **extra}
    validate_anthropic_request(body)
    _classify(pipeline, context_from_litellm(body, "anthropic_messages"))
