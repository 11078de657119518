"""Hypothesis strategies for hostile input: arbitrary JSON, Anthropic-shaped requests with wrong types in any
field, YAML-able structures and config files built from the defaults with junk put anywhere.

Needs the `test` extra (hypothesis); nothing in the package imports this module.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "anthropic_requests",
    "json_values",
    "mutated",
    "openai_requests",
    "yaml_values",
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)


json_values: st.SearchStrategy[Any] = st.recursive(_scalars, _containers, max_leaves=25)
"""Any value `json.loads` can return (no NaN: the proxy's JSON parser refuses it anyway)."""

_yaml_scalars = _scalars | st.dates() | st.binary(max_size=8)
yaml_values: st.SearchStrategy[Any] = st.recursive(
    _yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=10) | st.integers() | st.booleans() | st.none(), children, max_size=4
        )
    ),
    max_leaves=20,
)
"""Any value `yaml.safe_dump` can write: JSON plus dates, bytes and non-string keys."""

_roles = st.sampled_from(["user", "assistant", "system", "tool", ""]) | json_values
_block_types = st.sampled_from(
    ["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking", "document", "x"]
)


@st.composite
def _content_block(draw: st.DrawFn) -> Any:
    kind = draw(_block_types)
    block: dict[str, Any] = {"type": kind}
    fields = {
        "text": st.text(max_size=60) | json_values,
        "thinking": st.text(max_size=30) | json_values,
        "input": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
        "content": st.text(max_size=30) | st.lists(json_values, max_size=3) | json_values,
        "source": json_values,
        "name": st.text(max_size=20) | json_values,
        "id": st.text(max_size=12),
        "tool_use_id": st.text(max_size=12) | json_values,
        "cache_control": st.just({"type": "ephemeral"}) | json_values,
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
        block[name] = draw(fields[name])
    return block


_content = st.text(max_size=80) | st.lists(_content_block() | json_values, max_size=4) | json_values
_message = st.fixed_dictionaries({"role": _roles, "content": _content}) | json_values

_tool = (
    st.fixed_dictionaries(
        {"name": st.text(max_size=20) | json_values},
        optional={
            "type": st.sampled_from(["web_search_20250305", "bash_20250124", "custom", "function"])
            | json_values,
            "description": st.text(max_size=30) | json_values,
            "input_schema": json_values,
            "function": st.fixed_dictionaries({"name": st.text(max_size=10) | json_values}) | json_values,
        },
    )
    | json_values
)

_thinking = (
    st.fixed_dictionaries(
        {"type": st.sampled_from(["enabled", "disabled", "adaptive", "other"]) | json_values},
        optional={"budget_tokens": st.integers(-10, 10**7) | json_values},
    )
    | json_values
)

_models = (
    st.sampled_from(["claude-haiku-4-5-20251001", "claude-opus-4-8", "default", "gpt-4o", "claude-*", ""])
    | st.text(max_size=30)
    | json_values
)

_anthropic_fields: dict[str, st.SearchStrategy[Any]] = {
    "model": _models,
    "max_tokens": st.integers(-5, 10**6) | json_values,
    "messages": st.lists(_message, max_size=4) | json_values,
    "system": st.text(max_size=60) | st.lists(_content_block() | json_values, max_size=3) | json_values,
    "tools": st.lists(_tool, max_size=4) | json_values,
    "thinking": _thinking,
    "metadata": st.fixed_dictionaries({}, optional={"user_id": st.text(max_size=60) | json_values})
    | json_values,
    "stream": st.booleans() | json_values,
    "temperature": json_values,
    "tool_choice": json_values,
    "stop_sequences": json_values,
}


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A Messages API body: each field present or not, well-typed or anything, plus unknown keys."""
    body: dict[str, Any] = {}
    for name, strategy in _anthropic_fields.items():
        if draw(st.integers(0, 9)) < 8:
            body[name] = draw(strategy)
    body.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return body


_openai_fields: dict[str, st.SearchStrategy[Any]] = {
    "model": _models,
    "messages": st.lists(_message, max_size=4) | json_values,
    "input": st.text(max_size=40) | st.lists(_message, max_size=3) | json_values,
    "instructions": st.text(max_size=30) | json_values,
    "tools": st.lists(_tool, max_size=3) | json_values,
    "reasoning": st.fixed_dictionaries({}, optional={"effort": json_values}) | json_values,
    "reasoning_effort": json_values,
    "thinking": _thinking,
    "metadata": json_values,
    "max_tokens": json_values,
    "stream": json_values,
    "stream_options": json_values,
}


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A Chat Completions or Responses body with any field of any type."""
    return {name: draw(strategy) for name, strategy in _openai_fields.items() if draw(st.integers(0, 9)) < 7}


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with a few of its values (at any depth) replaced by arbitrary YAML values, keys dropped
    or junk keys added."""
    for _ in range(draw(st.integers(1, 3))):
        document = _mutate_once(draw, document)
    return document


def _mutate_once(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(list(node)))
        action = draw(st.sampled_from(["descend", "replace", "drop", "add"]))
        copy = dict(node)
        if action == "descend":
            copy[key] = _mutate_once(draw, node[key])
        elif action == "replace":
            copy[key] = draw(yaml_values)
        elif action == "drop":
            del copy[key]
        else:
            copy[draw(st.text(min_size=1, max_size=12))] = draw(yaml_values)
        return copy
    if isinstance(node, list) and node:
        index = draw(st.integers(0, len(node) - 1))
        copy_list = list(node)
        copy_list[index] = _mutate_once(draw, node[index]) if draw(st.booleans()) else draw(yaml_values)
        return copy_list
    return draw(yaml_values)
