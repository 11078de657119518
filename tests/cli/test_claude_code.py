"""The real Claude Code CLI, through `ccproxy run`, through the proxy, to the fake provider."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy

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
