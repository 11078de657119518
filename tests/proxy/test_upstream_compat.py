"""An upstream ccproxy user's config pair (its README example) loads and routes unchanged.

The only edits are the ones that point it at this machine: the port (4000 may be taken) and
`api_base: https://api.anthropic.com` -> the fake provider (there is no internet here).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

FIXTURES = Path(__file__).parent.parent / "fixtures" / "upstream"


@pytest.fixture(scope="module")
def upstream_proxy(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    config_dir = tmp_path_factory.mktemp("upstream")
    ccproxy_yaml = (FIXTURES / "ccproxy.yaml").read_text().replace("port: 4000", f"port: {free_port()}")
    config_yaml = (
        (FIXTURES / "config.yaml").read_text().replace("https://api.anthropic.com", provider.base_url)
    )
    (config_dir / "ccproxy.yaml").write_text(ccproxy_yaml)
    (config_dir / "config.yaml").write_text(config_yaml)
    saved = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-upstream-test"
    try:
        with running_proxy(ConfigPaths(config_dir)) as running:
            yield running
    finally:
        if saved is None:
            os.environ.pop("ANTHROPIC_API_KEY", None)
        else:
            os.environ["ANTHROPIC_API_KEY"] = saved


ROUTES = [
    ("plain -> default -> sonnet", {"model": "claude-sonnet-4-5-20250929"}, "claude-sonnet-4-5-20250929"),
    ("old haiku -> background", {"model": "claude-3-5-haiku-20241022"}, "claude-3-5-haiku-20241022"),
    (
        "thinking -> think",
        {"model": "claude-sonnet-4-5-20250929", "thinking": {"type": "enabled", "budget_tokens": 1024}},
        "claude-opus-4-5-20251101",
    ),
    (
        "web_search rule without a model -> default",
        {"model": "claude-opus-4-8", "tools": [{"name": "WebSearch", "input_schema": {"type": "object"}}]},
        "claude-sonnet-4-5-20250929",
    ),
]


@pytest.mark.parametrize(("name", "extra", "expected"), ROUTES, ids=[r[0] for r in ROUTES])
def test_upstream_readme_config_routes(
    upstream_proxy: RunningProxy, provider: FakeProvider, name: str, extra: dict, expected: str
) -> None:
    client = anthropic.Anthropic(base_url=upstream_proxy.url, api_key=upstream_proxy.key, max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the upstream README's models are old
        message = client.messages.create(max_tokens=50, messages=[{"role": "user", "content": "hi"}], **extra)
    assert f"reply from {expected}" in message.content[0].text
    received = provider.wait_for_requests(1)[-1]
    assert received.headers.get("x-api-key") == "sk-ant-upstream-test"


def test_upstream_config_warns_about_missing_token_command(upstream_proxy: RunningProxy) -> None:
    assert upstream_proxy.control.healthy(upstream_proxy.url)
    assert upstream_proxy.state.url.startswith("http://127.0.0.1:")
