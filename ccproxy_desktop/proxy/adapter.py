"""The one place that knows LiteLLM's request dict: builds a `RequestContext` from it and writes the
pipeline's decisions back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..pipeline.context import Reject, RequestContext

__all__ = [
    "PROJECT_HEADER",
    "agent_of",
    "apply_to_litellm",
    "context_from_litellm",
    "project_of",
    "validate_anthropic_request",
]

ANTHROPIC_CALL_TYPES = frozenset({"anthropic_messages"})
OPENAI_CALL_TYPES = frozenset(
    {"acompletion", "completion", "aresponses", "responses", "text_completion", "atext_completion"}
)
ROUTED_CALL_TYPES = ANTHROPIC_CALL_TYPES | OPENAI_CALL_TYPES


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value), "null" if value is None else type(value).__name__)


def _bad(message: str) -> Reject:
    return Reject(400, "invalid_request_error", message)


def validate_anthropic_request(data: Mapping[str, Any]) -> None:
    """Raise `Reject` (400 invalid_request_error) naming the first field that breaks the Messages API shape."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad(
            "model: Field required"
            if model is None
            else f"model: Input should be a string, not {_type_name(model)}"
        )
    max_tokens = data.get("max_tokens")
    if max_tokens is None:
        raise _bad("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _bad(
            f"max_tokens: Input should be a positive integer, not {_type_name(max_tokens)} {max_tokens!r}"[
                :200
            ]
        )
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise _bad(
            "messages: Field required"
            if messages is None
            else f"messages: Input should be an array, not {_type_name(messages)}"
        )
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise _bad(f"messages.{index}: Input should be an object")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise _bad(f"messages.{index}.role: Input should be a string such as 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise _bad(f"messages.{index}.content: Input should be a string or an array of content blocks")
        if isinstance(content, list) and not all(
            isinstance(b, Mapping) and isinstance(b.get("type"), str) for b in content
        ):
            raise _bad(f"messages.{index}.content: each content block must be an object with a `type`")
    for key, allowed, label in (
        ("system", (str, list), "a string or an array of text blocks"),
        ("tools", (list,), "an array"),
        ("thinking", (Mapping,), "an object"),
        ("metadata", (Mapping,), "an object"),
        ("stream", (bool,), "a boolean"),
    ):
        value = data.get(key)
        if value is not None and not isinstance(value, allowed):
            raise _bad(f"{key}: Input should be {label}, not {_type_name(value)}")
    _validate_details(data)


def _validate_details(data: Mapping[str, Any]) -> None:
    """Fields inside `tools`, `thinking` and `metadata` that LiteLLM converts without checking (a 500)."""
    for index, tool in enumerate(data.get("tools") or ()):
        if not isinstance(tool, Mapping):
            raise _bad(f"tools.{index}: Input should be an object, not {_type_name(tool)}")
    thinking = data.get("thinking") or {}
    kind, budget = thinking.get("type"), thinking.get("budget_tokens")
    if kind is not None and not isinstance(kind, str):
        raise _bad(f"thinking.type: Input should be a string, not {_type_name(kind)}")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)):
        raise _bad(f"thinking.budget_tokens: Input should be an integer, not {_type_name(budget)}")
    user_id = (data.get("metadata") or {}).get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise _bad(f"metadata.user_id: Input should be a string, not {_type_name(user_id)}")


def _headers(data: Mapping[str, Any]) -> dict[str, str]:
    """Incoming request headers, lowercase names. LiteLLM keeps auth headers apart in `secret_fields`."""
    merged: dict[str, str] = {}
    request = data.get("proxy_server_request")
    secret = data.get("secret_fields")
    for source in (
        request.get("headers") if isinstance(request, Mapping) else None,
        secret.get("raw_headers") if isinstance(secret, Mapping) else None,
    ):
        if isinstance(source, Mapping):
            merged.update({str(k).lower(): str(v) for k, v in source.items()})
    return merged


def _openai_parts(data: Mapping[str, Any]) -> tuple[Any, list[Any], Mapping[str, Any] | None]:
    messages = data.get("messages")
    if messages is None:
        raw_input = data.get("input")
        messages = (
            raw_input
            if isinstance(raw_input, list)
            else ([{"role": "user", "content": raw_input}] if raw_input else [])
        )
    effort = (
        data.get("reasoning_effort") or (data.get("reasoning") or {}).get("effort")
        if isinstance(data.get("reasoning") or {}, Mapping)
        else None
    )
    thinking = (
        data.get("thinking")
        if isinstance(data.get("thinking"), Mapping)
        else ({"type": "enabled"} if effort else None)
    )
    return data.get("instructions"), messages if isinstance(messages, list) else [], thinking


def context_from_litellm(data: Mapping[str, Any], call_type: str) -> RequestContext:
    """Build the context of one request. `data` must already have passed validation for its call type."""
    metadata = data.get("metadata")
    tools = data.get("tools")
    if call_type in ANTHROPIC_CALL_TYPES:
        system, messages = data.get("system"), data.get("messages") or []
        thinking = data.get("thinking") if isinstance(data.get("thinking"), Mapping) else None
    else:
        system, messages, thinking = _openai_parts(data)
    max_tokens = data.get("max_tokens")
    headers = _headers(data)
    return RequestContext(
        request_id=str(data.get("litellm_call_id") or ""),
        call_type=call_type,
        model=str(data.get("model") or ""),
        messages=list(messages),
        system=system,
        tools=list(tools) if isinstance(tools, list) else [],
        thinking=thinking,
        stream=data.get("stream") is True,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        headers=headers,
        project=project_of(headers),
        agent=agent_of(headers),
    )


PROJECT_HEADER = "x-ccproxy-project"
_MAX_LABEL = 100


def project_of(headers: Mapping[str, str]) -> str | None:
    """The project a request belongs to: our own `x-ccproxy-project` header (sent by `ccproxy run` and the
    shell integration through `ANTHROPIC_CUSTOM_HEADERS`), trimmed; None when absent or blank."""
    return _label(headers.get(PROJECT_HEADER))


def agent_of(headers: Mapping[str, str]) -> str:
    """Which Claude Code agent sent a request: `main` for the main thread (no agent header), else the
    subagent's type (`x-claude-code-agent-type`, sent with gateway hint headers on, e.g. `Explore`) when
    present, else its id (`x-claude-code-agent-id`, `a<16 hex>`)."""
    for name in ("x-claude-code-agent-type", "x-claude-code-agent-id"):
        value = _label(headers.get(name))
        if value is not None:
            return value
    return "main"


def _label(value: str | None) -> str | None:
    """A header value fit for a ledger key: stripped of whitespace and control characters, at most 100
    characters; None when nothing is left."""
    if value is None:
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()[:_MAX_LABEL].strip()
    return text or None


def apply_to_litellm(ctx: RequestContext, data: dict[str, Any]) -> None:
    """Write the decisions in `ctx` into LiteLLM's request dict."""
    if ctx.routed_model:
        data["model"] = ctx.routed_model
    if (
        ctx.call_type in ANTHROPIC_CALL_TYPES
        and ctx.system is not data.get("system")
        and ctx.system is not None
    ):
        data["system"] = ctx.system
    if ctx.upstream_headers:
        extra = dict(data.get("extra_headers") or {})
        extra.update(ctx.upstream_headers)
        data["extra_headers"] = extra
    if ctx.upstream_api_key:
        data["api_key"] = ctx.upstream_api_key
