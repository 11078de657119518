"""A Claude-Code-shaped tool loop for end-to-end tests of a route: Claude Code's system blocks, tools, metadata
and betas; a first streamed turn that thinks and calls two tools (the fake provider scripted with `CALLS`),
then the tool results (one with an image) and the answer. Each test checks its own provider's wire format in
between; what both sides of the proxy must see is checked here."""

from __future__ import annotations

import base64
from typing import Any

import anthropic

from .fake_provider import FakeProvider
from .fake_provider.replies import Reply, ToolCall, Usage
from .fake_provider.scenario import ScriptedToolCall

__all__ = [
    "ANSWER",
    "BETAS",
    "CALLS",
    "METADATA",
    "PNG",
    "QUESTION",
    "SIGNATURE",
    "SYSTEM",
    "THINKING",
    "TOOLS",
    "check_answer",
    "check_tool_calls",
    "tool_results",
    "turn",
    "wait_until_thinking_reaches",
]

TOOLS: list[dict[str, Any]] = [
    {
        "name": "Read",
        "description": "Reads a file from the local filesystem.",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}},
            "required": ["file_path"],
        },
    },
    {
        "name": "Bash",
        "description": "Executes a given bash command.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
            "required": ["command"],
        },
    },
]
SYSTEM = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {"type": "text", "text": "Use the tools to answer.", "cache_control": {"type": "ephemeral"}},
]
METADATA = {"user_id": "user_0123_account_4567_session_89ab"}
BETAS = {"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
QUESTION = "What does the readme say?"
THINKING = "The user wants the readme; read it and list the folder."
CALLS = [
    ScriptedToolCall(name="Read", arguments={"file_path": "README.md"}, id="toolu_01"),
    ScriptedToolCall(name="Bash", arguments={"command": "ls", "description": "List files"}, id="toolu_02"),
]
PNG = base64.b64encode(  # a 1x1 PNG, as Claude Code's Read returns an image file
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
ANSWER = "The readme says hello."
# What the fake provider signs the scripted turn's reasoning with (Anthropic signature, Responses
# encrypted_content, Gemini thoughtSignature): the client must hand it back unchanged on the next turn.
SIGNATURE = Reply(
    model="",
    text="",
    tool_call=ToolCall("toolu_01", "Read", dict(CALLS[0].arguments)),
    usage=Usage(0, 0),
    more_tool_calls=(ToolCall("toolu_02", "Bash", dict(CALLS[1].arguments)),),
    thinking=THINKING,
).signature


def turn(
    client: anthropic.Anthropic, model: str, messages: list[dict[str, Any]], thinking: bool
) -> anthropic.types.Message:
    """One streamed turn as Claude Code sends it."""
    with client.messages.stream(
        model=model,
        max_tokens=4096,
        system=SYSTEM,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        metadata=METADATA,  # type: ignore[arg-type]
        messages=messages,  # type: ignore[arg-type]
        extra_headers=BETAS,
        **({"thinking": {"type": "enabled", "budget_tokens": 1024}} if thinking else {}),  # type: ignore[arg-type]
    ) as stream:
        return stream.get_final_message()


def check_tool_calls(first: anthropic.types.Message, thinking: bool) -> list[anthropic.types.ToolUseBlock]:
    """The first turn as the client sees it: the reasoning, "Let me look." and both tool calls."""
    assert first.stop_reason == "tool_use"
    if thinking:
        assert [b.thinking for b in first.content if b.type == "thinking"] == [THINKING]
    assert [b.text for b in first.content if b.type == "text"] == ["Let me look."]
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [(c.name, c.arguments) for c in CALLS]
    assert len({u.id for u in uses}) == 2 and all(u.id for u in uses)
    return uses


def tool_results(
    first: anthropic.types.Message, uses: list[anthropic.types.ToolUseBlock]
) -> list[dict[str, Any]]:
    """The assistant turn handed back as the SDK dumps it, and the user turn with both tool results (the
    first with text and an image)."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    return [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": uses[0].id,
                    "content": [{"type": "text", "text": "# hello"}, image],
                },
                {"type": "tool_result", "tool_use_id": uses[1].id, "content": "README.md src tests"},
            ],
        },
    ]


def check_answer(second: anthropic.types.Message, upstream_body: str, echo: str | None) -> None:
    """The answer the client got, and what reached the provider: the tool results, the image included, and
    (`echo`) the reasoning handed back: the fake's signature, or the thinking text itself."""
    assert second.stop_reason == "end_turn"
    assert "".join(b.text for b in second.content if b.type == "text") == ANSWER
    assert second.usage.output_tokens > 0
    assert "# hello" in upstream_body and "README.md src tests" in upstream_body and PNG in upstream_body
    if echo is not None:
        assert (SIGNATURE if echo == "signature" else THINKING) in upstream_body


def wait_until_thinking_reaches(url: str, key: str, provider: FakeProvider, model: str) -> None:
    """After a `ccproxy route think ...`: the running proxy reloads config.yaml by itself; wait until a
    thinking request reaches `model` at `provider`, then clear its record."""
    from .helpers import wait_for

    client = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=60)

    def reached() -> bool:
        provider.clear()
        client.messages.create(
            model="claude-sonnet-5",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "ping"}],
        )
        return any(r.model == model for r in provider.requests)

    wait_for(reached, timeout=30)
    provider.clear()
