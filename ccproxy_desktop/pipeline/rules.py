"""Classification rules: small classes with one `evaluate`. The first rule that matches names the request.

A custom rule is any class with `evaluate(self, ctx, env) -> bool` (or an async `evaluate_async`),
referenced by import path in ccproxy.yaml; its YAML `params` are its constructor arguments.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol

from .context import RequestContext

__all__ = [
    "DefaultRule",
    "MatchModelRule",
    "MatchToolRule",
    "Rule",
    "RuleEnv",
    "ThinkingRule",
    "TokenCountRule",
]


class TokenCounting(Protocol):
    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool: ...

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool: ...


class RuleEnv(Protocol):
    """What rules may use besides the request: services shared by the whole pipeline."""

    @property
    def token_counter(self) -> TokenCounting: ...


class Rule(ABC):
    """Base class of rules. Subclasses implement `evaluate`; rules that do slow work override
    `evaluate_async` too, which the proxy awaits (it must not block the event loop)."""

    @abstractmethod
    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        """True when the request belongs to this rule's route. Must not modify `ctx`."""

    async def evaluate_async(self, ctx: RequestContext, env: RuleEnv) -> bool:
        return self.evaluate(ctx, env)


class TokenCountRule(Rule):
    """Matches when the request's input (system prompt, tool definitions, every message block) has more
    than `threshold` tokens."""

    def __init__(self, threshold: int) -> None:
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
            raise ValueError(f"threshold must be a non-negative integer, got {threshold!r}")
        self.threshold = threshold

    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        return env.token_counter.exceeds(ctx.system, ctx.tools, ctx.messages, self.threshold)

    async def evaluate_async(self, ctx: RequestContext, env: RuleEnv) -> bool:
        return await env.token_counter.exceeds_async(ctx.system, ctx.tools, ctx.messages, self.threshold)


class ThinkingRule(Rule):
    """Matches requests that ask for extended thinking with a budget: `thinking.type == "enabled"` and
    `budget_tokens >= min_budget_tokens`.

    Claude Code sends `{"type": "adaptive"}` on most main turns of its newest models (the model decides
    whether to think); those match only with `include_adaptive: true`.
    """

    def __init__(self, min_budget_tokens: int = 0, include_adaptive: bool = False) -> None:
        if not isinstance(min_budget_tokens, int) or min_budget_tokens < 0:
            raise ValueError("min_budget_tokens must be a non-negative integer")
        self.min_budget_tokens = min_budget_tokens
        self.include_adaptive = include_adaptive

    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        thinking = ctx.thinking
        if not isinstance(thinking, Mapping):
            return False
        kind = thinking.get("type", "enabled")
        if kind == "adaptive":
            return self.include_adaptive
        if kind != "enabled":
            return False
        budget = thinking.get("budget_tokens", 0)
        return not self.min_budget_tokens or (isinstance(budget, int) and budget >= self.min_budget_tokens)


class MatchModelRule(Rule):
    """Matches when `model_name` occurs in the requested model (case-insensitive), e.g. `haiku`."""

    def __init__(self, model_name: str) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise ValueError("model_name must be a non-empty string")
        self.model_name = model_name

    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        return self.model_name.lower() in ctx.model.lower()


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class MatchToolRule(Rule):
    """Matches when the request offers a given tool.

    `tool_name`: a tool whose name contains it (case, `_` and `-` ignored: `WebSearch` matches Claude Code's
    `WebSearch` tool and the server tool named `web_search`).
    `tool_type`: a server tool whose `type` is it or starts with it plus `_` (`web_search` matches
    `web_search_20250305`). Claude Code offers its WebSearch tool on every turn but sends the server tool
    only on the request that actually searches, so `tool_type: web_search` picks out searches.
    """

    def __init__(self, tool_name: str | None = None, tool_type: str | None = None) -> None:
        if tool_name is not None and (not isinstance(tool_name, str) or not _squash(tool_name)):
            raise ValueError("tool_name must be a non-empty string")
        if tool_type is not None and (not isinstance(tool_type, str) or not tool_type):
            raise ValueError("tool_type must be a non-empty string")
        if tool_name is None and tool_type is None:
            raise ValueError("give tool_name or tool_type")
        self.tool_name = tool_name
        self.tool_type = tool_type
        self._needle = _squash(tool_name) if tool_name else None

    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        for tool in ctx.tools:
            if not isinstance(tool, Mapping):
                if isinstance(tool, str) and self._needle and self._needle in _squash(tool):
                    return True
                continue
            if self.tool_type is not None:
                kind = tool.get("type")
                if isinstance(kind, str) and (
                    kind == self.tool_type or kind.startswith(self.tool_type + "_")
                ):
                    return True
            if self._needle is not None:
                function = tool.get("function")
                names = (tool.get("name"), function.get("name") if isinstance(function, Mapping) else None)
                if any(isinstance(n, str) and self._needle in _squash(n) for n in names):
                    return True
        return False


class DefaultRule(Rule):
    """Always matches: put it last to catch everything the rules above didn't."""

    def __init__(self, passthrough: bool = False) -> None:
        self.passthrough = passthrough

    def evaluate(self, ctx: RequestContext, env: RuleEnv) -> bool:
        return True


BUILTIN_RULES: Mapping[str, type[Rule]] = {
    cls.__name__: cls for cls in (TokenCountRule, ThinkingRule, MatchModelRule, MatchToolRule, DefaultRule)
}
