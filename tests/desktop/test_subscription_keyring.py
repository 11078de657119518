"""A Claude subscription login passing through the proxy leaves nothing in the session's real keyring.

The proxy runs in the desktop session, where the Secret Service (gnome-keyring) is its credential store (it keeps
its master key there). A client sends what a logged-in Claude Code sends: its own `Authorization: Bearer` token
with the OAuth beta, and our `x-ccproxy-key`. The fake provider must receive exactly that token, and afterwards
no item of any keyring collection (secret, label or attributes), no file of the config folder and no `ps` line
holds it. (The real Claude Code CLI on the same path: tests/cli/test_claude_code_subscription_e2e.py.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
import secretstorage
import yaml

from ccproxy_desktop.auth.store import SERVICE_NAME
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

TOKEN = "sk-ant-oat01-fake-subscription-in-the-desktop-0123456789"
OAUTH_BETA = "oauth-2025-04-20"


def keyring_items() -> list[tuple[str, dict[str, str], bytes]]:
    """(label, attributes, secret) of every item in every collection of the session's Secret Service."""
    connection = secretstorage.dbus_init()
    try:
        items = []
        for collection in secretstorage.get_all_collections(connection):
            if collection.is_locked():
                collection.unlock()
            for item in collection.get_all_items():
                items.append((item.get_label(), item.get_attributes(), item.get_secret()))
        return items
    finally:
        connection.close()


@pytest.fixture
def subscription_proxy(tmp_path: Path) -> Iterator[tuple[RunningProxy, FakeProvider]]:
    with FakeProvider() as provider:
        paths = write_fake_config(
            tmp_path / "cfg",
            provider.base_url,
            free_port(),
            models={"default": ("claude-sonnet-5", "anthropic"), "claude-*": ("claude-*", "anthropic")},
            ccproxy={
                "hooks": ["extract_session_id", "rule_evaluator", "model_router", "add_beta_headers"],
                "default_model_passthrough": True,
                "claude_credential_hosts": ["127.0.0.1"],  # the fake provider stands in for Anthropic
            },
        )
        config = yaml.safe_load(paths.litellm_yaml.read_text())
        for entry in config["model_list"]:  # the login is the key: Anthropic routes have none of their own
            entry["litellm_params"].pop("api_key", None)
        paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
        with running_proxy(paths) as proxy:
            yield proxy, provider


def test_a_passed_through_login_is_never_stored_in_the_keyring(
    subscription_proxy: tuple[RunningProxy, FakeProvider],
) -> None:
    proxy, provider = subscription_proxy
    assert any(attributes.get("service") == SERVICE_NAME for _, attributes, _ in keyring_items()), (
        "the proxy's master key is not in the keyring: is this the desktop session?"
    )
    provider.scenario.expected_token = TOKEN
    client = anthropic.Anthropic(
        base_url=proxy.url,
        auth_token=TOKEN,
        default_headers={"x-ccproxy-key": proxy.key, "anthropic-beta": f"claude-code-20250219,{OAUTH_BETA}"},
        max_retries=0,
        timeout=60,
    )
    with client.messages.stream(
        model="claude-sonnet-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text()
    [request] = [r for r in provider.requests if r.path == "/v1/messages"]
    assert request.headers.get("authorization") == f"Bearer {TOKEN}"

    for label, attributes, secret in keyring_items():
        assert TOKEN.encode() not in secret, (label, attributes)
        assert TOKEN not in label and TOKEN not in repr(attributes), (label, attributes)
    for path in proxy.paths.config_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in subprocess.run(["ps", "auxww"], capture_output=True, text=True).stdout
