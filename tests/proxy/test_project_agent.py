"""Which project and which Claude Code agent a request belongs to, read from its headers."""

from __future__ import annotations

import pytest

from ccproxy_desktop.proxy.adapter import agent_of, context_from_litellm, project_of


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-ccproxy-project": "webapp"}, "webapp"),
        ({"x-ccproxy-project": "  my project \t"}, "my project"),
        ({"x-ccproxy-project": "   "}, None),
        ({"x-ccproxy-project": "a\x00b\x1bc"}, "abc"),
        ({"x-ccproxy-project": "x" * 300}, "x" * 100),
    ],
)
def test_project_of(headers: dict[str, str], expected: str | None) -> None:
    assert project_of(headers) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "main"),
        ({"x-claude-code-session-id": "s"}, "main"),
        ({"x-claude-code-agent-id": "a7a6937c0a9b2176e"}, "a7a6937c0a9b2176e"),
        (
            {
                "x-claude-code-agent-id": "a7a6937c0a9b2176e",
                "x-claude-code-parent-agent-id": "a0000000000000001",
            },
            "a7a6937c0a9b2176e",
        ),
        ({"x-claude-code-agent-id": "a7a6937c0a9b2176e", "x-claude-code-agent-type": "Explore"}, "Explore"),
        ({"x-claude-code-agent-id": "a1", "x-claude-code-agent-type": " "}, "a1"),
    ],
)
def test_agent_of(headers: dict[str, str], expected: str) -> None:
    assert agent_of(headers) == expected


def test_the_context_carries_project_and_agent_from_the_request_headers() -> None:
    data = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 10,
        "proxy_server_request": {
            "headers": {"X-Ccproxy-Project": "webapp", "X-Claude-Code-Agent-Id": "a7a6937c0a9b2176e"}
        },
    }
    ctx = context_from_litellm(data, "anthropic_messages")
    assert (ctx.project, ctx.agent) == ("webapp", "a7a6937c0a9b2176e")
    bare = context_from_litellm({**data, "proxy_server_request": {"headers": {}}}, "anthropic_messages")
    assert (bare.project, bare.agent) == (None, "main")
