"""The built-in classification rules: which requests each one claims."""

from __future__ import annotations

from typing import Any

import pytest

from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.pipeline.rules import (
    DefaultRule,
    MatchModelRule,
    MatchToolRule,
    Rule,
    ThinkingRule,
    TokenCountRule,
)
from ccproxy_desktop.pipeline.tokens import TokenCounter


class FixedTokenCount:
    """A token counter that reports the same count for every request."""

    def __init__(self, count: int) -> None:
        self.count = count

    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return self.count > threshold

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return self.count > threshold


class Env:
    """The services a rule may use."""

    def __init__(self, token_counter: Any) -> None:
        self.token_counter = token_counter


NO_TOKENS = Env(FixedTokenCount(0))


def request(model: str = "claude-sonnet-4-5-20250929", **fields: Any) -> RequestContext:
    fields.setdefault("messages", [{"role": "user", "content": "hello"}])
    return RequestContext(request_id="req-1", call_type="anthropic_messages", model=model, **fields)


@pytest.mark.parametrize(
    ("count", "threshold", "expected"),
    [
        (60_001, 60_000, True),
        (60_000, 60_000, False),
        (12, 60_000, False),
        (1, 0, True),
        (0, 0, False),
    ],
)
async def test_token_count_rule_claims_requests_over_the_threshold(
    count: int, threshold: int, expected: bool
) -> None:
    rule = TokenCountRule(threshold=threshold)
    env = Env(FixedTokenCount(count))

    assert rule.evaluate(request(), env) is expected
    assert await rule.evaluate_async(request(), env) is expected


@pytest.mark.parametrize(
    ("system", "tools", "messages", "expected"),
    [
        pytest.param(None, [], [{"role": "user", "content": "fix the failing test"}], False, id="short-chat"),
        pytest.param(
            None, [], [{"role": "user", "content": "lorem ipsum dolor " * 25_000}], True, id="long-message"
        ),
        pytest.param(
            [{"type": "text", "text": "You are a careful engineer. " * 20_000}],
            [],
            [{"role": "user", "content": "hi"}],
            True,
            id="long-system-prompt",
        ),
        pytest.param(
            None,
            [
                {"name": f"tool_{i}", "description": "reads a file " * 300, "input_schema": {}}
                for i in range(80)
            ],
            [{"role": "user", "content": "hi"}],
            True,
            id="many-tool-definitions",
        ),
        pytest.param(
            None,
            [],
            [
                {"role": "user", "content": [{"type": "text", "text": "read it"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "line of code\n" * 30_000}
                    ],
                },
            ],
            True,
            id="long-tool-result",
        ),
    ],
)
async def test_token_count_rule_with_the_real_counter_counts_every_part_of_the_request(
    system: Any, tools: list[Any], messages: list[Any], expected: bool
) -> None:
    rule = TokenCountRule(threshold=60_000)
    env = Env(TokenCounter())
    ctx = request(system=system, tools=tools, messages=messages)

    assert rule.evaluate(ctx, env) is expected
    assert await rule.evaluate_async(ctx, env) is expected


@pytest.mark.parametrize("threshold", [-1, "60000", 1.5, True, None])
def test_token_count_rule_refuses_a_threshold_that_is_not_a_count(threshold: Any) -> None:
    with pytest.raises(ValueError, match="threshold must be a non-negative integer"):
        TokenCountRule(threshold=threshold)


ENABLED = {"type": "enabled", "budget_tokens": 10_000}
ADAPTIVE = {"type": "adaptive"}


@pytest.mark.parametrize(
    ("params", "thinking", "expected"),
    [
        pytest.param({}, None, False, id="no-thinking"),
        pytest.param({}, ENABLED, True, id="enabled"),
        pytest.param({}, {"type": "disabled"}, False, id="disabled"),
        pytest.param({}, {"budget_tokens": 2048}, True, id="budget-without-type"),
        pytest.param({}, ADAPTIVE, False, id="adaptive-is-not-asking"),
        pytest.param({"include_adaptive": True}, ADAPTIVE, True, id="adaptive-included"),
        pytest.param({"min_budget_tokens": 10_000}, ENABLED, True, id="budget-at-minimum"),
        pytest.param({"min_budget_tokens": 16_000}, ENABLED, False, id="budget-below-minimum"),
    ],
)
def test_thinking_rule_claims_requests_that_ask_for_thinking(
    params: dict[str, Any], thinking: Any, expected: bool
) -> None:
    assert ThinkingRule(**params).evaluate(request(thinking=thinking), NO_TOKENS) is expected


@pytest.mark.parametrize(
    ("model_name", "requested", "expected"),
    [
        ("haiku", "claude-3-5-haiku-20241022", True),
        ("haiku", "claude-haiku-4-5-20251001", True),
        ("HAIKU", "claude-haiku-4-5", True),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", True),
        ("haiku", "claude-sonnet-4-5-20250929", False),
        ("claude-3-5-haiku-20241022", "claude-haiku-4-5-20251001", False),
    ],
)
def test_match_model_rule_claims_requests_for_matching_models(
    model_name: str, requested: str, expected: bool
) -> None:
    assert MatchModelRule(model_name=model_name).evaluate(request(requested), NO_TOKENS) is expected


CLAUDE_CODE_WEBSEARCH = {"name": "WebSearch", "description": "search the web", "input_schema": {}}
SERVER_WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}


@pytest.mark.parametrize(
    ("params", "tools", "expected"),
    [
        pytest.param({"tool_name": "WebSearch"}, [CLAUDE_CODE_WEBSEARCH], True, id="name-claude-code-tool"),
        pytest.param({"tool_name": "WebSearch"}, [SERVER_WEB_SEARCH], True, id="name-server-tool"),
        pytest.param(
            {"tool_name": "WebSearch"},
            [{"type": "function", "function": {"name": "web_search"}}],
            True,
            id="name-openai-function",
        ),
        pytest.param({"tool_name": "WebSearch"}, ["web-search"], True, id="name-bare-string"),
        pytest.param(
            {"tool_name": "WebSearch"},
            [{"name": "Bash", "input_schema": {}}, CLAUDE_CODE_WEBSEARCH],
            True,
            id="name-among-others",
        ),
        pytest.param(
            {"tool_name": "WebSearch"}, [{"name": "WebFetch", "input_schema": {}}], False, id="name-other"
        ),
        pytest.param({"tool_name": "WebSearch"}, [], False, id="name-no-tools"),
        pytest.param({"tool_type": "web_search"}, [SERVER_WEB_SEARCH], True, id="type-server-tool"),
        pytest.param(
            {"tool_type": "web_search"}, [CLAUDE_CODE_WEBSEARCH], False, id="type-ignores-client-tool"
        ),
        pytest.param(
            {"tool_type": "web_search"},
            [{"type": "web_search_preview_x"}],
            True,
            id="type-prefix-with-underscore",
        ),
        pytest.param(
            {"tool_type": "web_search"}, [{"type": "web_searcher"}], False, id="type-needs-underscore"
        ),
        pytest.param({"tool_type": "web_search"}, ["web_search"], False, id="type-bare-string"),
    ],
)
def test_match_tool_rule_claims_requests_offering_the_tool(
    params: dict[str, str], tools: list[Any], expected: bool
) -> None:
    assert MatchToolRule(**params).evaluate(request(tools=tools), NO_TOKENS) is expected


@pytest.mark.parametrize(
    ("rule_class", "params", "message"),
    [
        (MatchModelRule, {"model_name": ""}, "model_name must be a non-empty string"),
        (MatchModelRule, {"model_name": None}, "model_name must be a non-empty string"),
        (MatchToolRule, {"tool_name": ""}, "tool_name must be a non-empty string"),
        (MatchToolRule, {"tool_name": "__-"}, "tool_name must be a non-empty string"),
        (MatchToolRule, {"tool_type": ""}, "tool_type must be a non-empty string"),
        (MatchToolRule, {}, "give tool_name or tool_type"),
        (ThinkingRule, {"min_budget_tokens": -1}, "min_budget_tokens must be a non-negative integer"),
    ],
)
def test_rules_refuse_params_that_cannot_match_anything(
    rule_class: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rule_class(**params)


@pytest.mark.parametrize(
    "ctx", [request(), request("gpt-4o", messages=[]), request(thinking={"type": "enabled"})]
)
def test_default_rule_claims_everything(ctx: RequestContext) -> None:
    assert DefaultRule().evaluate(ctx, NO_TOKENS) is True


@pytest.mark.parametrize(
    "rule",
    [TokenCountRule(threshold=0), ThinkingRule(), MatchModelRule("haiku"), MatchToolRule("WebSearch")],
    ids=lambda rule: type(rule).__name__,
)
def test_rules_leave_the_request_unchanged(rule: Rule) -> None:
    ctx = request(
        "claude-haiku-4-5",
        system="be brief",
        tools=[{"name": "WebSearch"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "long " * 10}],
    )
    before = repr(ctx)

    rule.evaluate(ctx, Env(TokenCounter()))

    assert repr(ctx) == before
