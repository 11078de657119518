"""The real Claude Code CLI, through `ccproxy run`, through the proxy, to the fake provider."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.fake_provider.scenario import ScriptedToolCall
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = [pytest.mark.proxy, pytest.mark.claude]


def claude_binary() -> str:
    found = shutil.which("claude")
    assert found, (
        "the Claude Code CLI is not installed: npm install -g @anthropic-ai/claude-code (.ci/run does this)"
    )
    return found


def run_claude(proxy: RunningProxy, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [
        sys.executable,
        "-m",
        "ccproxy_desktop.cli.main",
        "--config-dir",
        str(proxy.paths.config_dir),
        "run",
        claude_binary(),
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=home)


def test_claude_print_mode_goes_through_the_proxy(
    proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    result = run_claude(proxy, home, "-p", "say hi")
    assert result.returncode == 0, result.stderr
    assert "reply from " in result.stdout
    messages = [r for r in provider.requests if r.path == "/v1/messages" and r.json]
    assert messages, "Claude Code's request never reached the provider"
    main = messages[-1]
    assert main.headers.get("x-api-key") != proxy.key, "the proxy key must not be forwarded upstream"
    log = proxy.log_text()
    assert "route " in log and "-> " in log


def test_claude_background_model_routes_to_background(
    proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    result = run_claude(proxy, home, "--model", "haiku", "-p", "say hi")
    assert result.returncode == 0, result.stderr
    assert "reply from claude-haiku-4-5-20251001" in result.stdout


# --- a tool-use turn on an OpenAI-format model (the translated path) ---------------------------------
#
# The real Claude Code CLI completes a tool-use turn on an OpenAI-format model, through the translated path.
#
# Every request Claude Code makes is routed to OpenAI-format models served by the fake provider (Chat Completions or
# Responses, as LiteLLM chooses). The main model's first answer calls Claude Code's `Read` tool on a file in the
# working directory; Claude Code runs it, sends the result back, and the second answer ends the turn. The test checks
# what crossed the wire: the file's text reached the provider as the tool's result, and Claude Code printed the
# final answer.

MAIN, BACKGROUND = "gpt-main", "gpt-background"
OPENAI_PATHS = ("/v1/chat/completions", "/v1/responses")
SECRET_LINE = "the answer is forty-two, written in notes.txt"


@pytest.fixture(scope="module")
def openai_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(
        tmp_path_factory.mktemp("translated-tools") / "cfg",
        provider.base_url,
        free_port(),
        models={"default": (MAIN, "openai"), "background": (BACKGROUND, "openai")},
        ccproxy={
            "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
            "default_model_passthrough": False,  # whatever Claude model Claude Code asks for: `default`
            "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
        },
    )
    with running_proxy(paths) as running:
        yield running


def test_claude_code_runs_a_tool_on_an_openai_format_model(
    openai_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    notes = home / "notes.txt"
    notes.write_text(SECRET_LINE + "\n")
    read = ScriptedToolCall(name="Read", arguments={"file_path": str(notes)})
    provider.scenario.push(Behaviour(tool_calls=[read]), model=MAIN)  # the first main answer calls the tool

    result = run_claude(openai_proxy, home, "--allowedTools", "Read", "-p", "read notes.txt and tell me")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"reply from {MAIN}" in result.stdout  # the turn's final answer, after the tool ran

    main = [r for r in provider.requests if r.path in OPENAI_PATHS and r.model == MAIN]
    assert len(main) >= 2, [(r.path, r.model) for r in provider.requests]
    first, after = json.dumps(main[0].json), json.dumps(main[-1].json)
    assert "Read" in first  # Claude Code's tools, translated to the provider's tool format
    assert SECRET_LINE in after  # the tool's result went back to the model
    assert SECRET_LINE not in first
