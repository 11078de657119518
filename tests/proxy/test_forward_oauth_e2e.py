"""forward_oauth through the real proxy: the provider receives the token from `oat_sources`."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
import yaml

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

TOKEN = "sk-ant-oat01-from-the-token-file"
OTHER_KEY = "sk-other-provider-own-key"


@pytest.fixture(scope="module")
def oauth_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    config_dir = tmp_path_factory.mktemp("oauth")
    token_file = config_dir / "token.txt"
    token_file.write_text(TOKEN + "\n")
    paths = write_fake_config(
        config_dir,
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": ["rule_evaluator", "model_router", "forward_oauth", "add_beta_headers"],
            "claude_credential_hosts": ["127.0.0.1"],
            "oat_sources": {
                "anthropic": {"file": str(token_file), "user_agent": "claude-cli/2.1.197 (external, cli)"}
            },
        },
    )
    # Another provider's Anthropic-compatible endpoint (DeepSeek, Moonshot...): the same fake provider by a
    # host name that is not in claude_credential_hosts, with a key of its own.
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    config["model_list"].append(
        {
            "model_name": "other-anthropic-format",
            "litellm_params": {
                "model": "anthropic/other-chat",
                "api_base": provider.base_url.replace("127.0.0.1", "localhost"),
                "api_key": OTHER_KEY,
            },
        }
    )
    paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    with running_proxy(paths) as running:
        yield running


def test_provider_receives_the_stored_token(oauth_proxy: RunningProxy, provider: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=oauth_proxy.url, api_key=oauth_proxy.key, max_retries=0)
    client.messages.create(
        model="claude-opus-4-8",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "claude-code-20250219"},
    )
    received = provider.wait_for_requests(1)[-1]
    assert received.headers["authorization"] == f"Bearer {TOKEN}"
    assert received.headers["user-agent"] == "claude-cli/2.1.197 (external, cli)"
    betas = received.headers["anthropic-beta"].split(",")
    assert "oauth-2025-04-20" in betas and "claude-code-20250219" in betas
    assert oauth_proxy.key not in str(received.headers)
    assert TOKEN not in oauth_proxy.log_text()


def test_the_stored_login_never_goes_to_another_providers_anthropic_endpoint(
    oauth_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.clear()
    client = anthropic.Anthropic(base_url=oauth_proxy.url, api_key=oauth_proxy.key, max_retries=0)
    client.messages.create(
        model="other-anthropic-format", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    received = provider.wait_for_requests(1)[-1]
    assert received.headers.get("x-api-key") == OTHER_KEY
    assert TOKEN not in str(received.headers) and TOKEN.encode() not in received.raw
    assert "authorization" not in received.headers
