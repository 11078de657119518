"""The real Claude Code CLI logged in to a (fake) Claude subscription, through `ccproxy run`, with no API key
anywhere: its own login passes through to Anthropic's API untouched, a route to another provider gets that
provider's key and never the Claude token, and the token is in no file of the config folder, the log, the
ledger or `ps` output.

The login is a fake Claude Code credentials file in a private HOME (`~/.claude/.credentials.json`, the
shape Claude Code writes); the fake provider requires exactly that token. The fake provider runs on
127.0.0.1, so the test lists that host in `claude_credential_hosts` (by default only api.anthropic.com
receives a client's own Claude credential).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = [pytest.mark.proxy, pytest.mark.claude]

TOKEN = "sk-ant-oat01-fake-subscription-login-0123456789"
OAUTH_BETA = "oauth-2025-04-20"
MODELS = {
    "default": ("claude-sonnet-5", "anthropic"),
    "background": ("gpt-background", "openai"),  # Claude Code's haiku requests go to another provider
    "claude-*": ("claude-*", "anthropic"),
}


@pytest.fixture(scope="module")
def subscription_proxy(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    paths = write_fake_config(
        tmp_path_factory.mktemp("subscription") / "cfg",
        provider.base_url,
        free_port(),
        models=MODELS,
        ccproxy={
            "hooks": ["extract_session_id", "rule_evaluator", "model_router", "add_beta_headers"],
            "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
            "default_model_passthrough": True,
            "claude_credential_hosts": ["127.0.0.1"],
        },
    )
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    for entry in config["model_list"]:  # Anthropic routes have no key of their own: the login is the key
        if entry["litellm_params"]["model"].startswith("anthropic/"):
            entry["litellm_params"].pop("api_key")
    paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    with running_proxy(paths) as running:
        yield running


def logged_in_home(home: Path) -> Path:
    (home / ".claude").mkdir()
    credentials = {
        "claudeAiOauth": {
            "accessToken": TOKEN,
            "refreshToken": "sk-ant-ort01-fake-refresh",
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
    (home / ".claude" / ".credentials.json").write_text(json.dumps(credentials))
    return home


def run_claude(proxy: RunningProxy, home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """`ccproxy run claude ARGS` with no API key in the environment; returns the result and what `ps auxww`
    showed while it ran."""
    claude = shutil.which("claude")
    assert claude, "the Claude Code CLI is not installed: bash tests/run.sh installs it"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(proxy.paths.config_dir)]
    process = subprocess.Popen(
        [*command, "run", claude, *args],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    snapshots = []
    while process.poll() is None:
        snapshots.append(subprocess.run(["ps", "auxww"], capture_output=True, text=True).stdout)
        time.sleep(0.2)
    stdout, stderr = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), "\n".join(snapshots)


def token_in_config_folder(proxy: RunningProxy) -> list[str]:
    found = []
    for path in proxy.paths.config_dir.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_a_logged_in_claude_code_uses_its_own_login_through_the_proxy(
    subscription_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    provider.scenario.expected_token = TOKEN  # the provider refuses anything but the login
    result, ps_output = run_claude(subscription_proxy, logged_in_home(home), "-p", "say hi")
    assert result.returncode == 0, result.stderr
    assert "reply from claude-" in result.stdout
    messages = [r for r in provider.requests if r.path == "/v1/messages"]
    assert messages
    for request in messages:
        assert request.headers.get("authorization") == f"Bearer {TOKEN}"  # exactly the client's
        assert OAUTH_BETA in request.headers.get("anthropic-beta", "")
        assert "x-api-key" not in request.headers and "x-ccproxy-key" not in request.headers
    assert subscription_proxy.key not in json.dumps([dict(r.headers) for r in messages])
    assert TOKEN not in ps_output
    assert token_in_config_folder(subscription_proxy) == []  # config, ledger, log, state files


def test_a_route_to_another_provider_gets_its_own_key_never_the_login(
    subscription_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    result, _ = run_claude(
        subscription_proxy, logged_in_home(home), "--model", "claude-haiku-4-5-20251001", "-p", "hi"
    )
    assert result.returncode == 0, result.stderr
    assert "reply from gpt-background" in result.stdout
    other = [r for r in provider.requests if r.path in ("/v1/responses", "/v1/chat/completions")]
    assert other, [r.path for r in provider.requests]
    for request in other:
        assert request.headers.get("authorization") == "Bearer fake-provider-key"
        assert TOKEN not in json.dumps(dict(request.headers)) and TOKEN.encode() not in request.raw
    assert token_in_config_folder(subscription_proxy) == []
