"""Shared fixtures: the fake provider and a real proxy subprocess routing to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

TEST_HOOKS = [
    "extract_session_id",
    "ccproxy_desktop.testing.hooks.explode_on_header",
    "rule_evaluator",
    "model_router",
    "ccproxy_desktop.testing.hooks.refuse_on_header",
    "capture_headers",
    "add_beta_headers",
]

TEST_RULES = [
    {"name": "token_count", "rule": "TokenCountRule", "params": [{"threshold": 60000}]},
    {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]},
    {"name": "think", "rule": "ThinkingRule"},
    {"name": "web_search", "rule": "MatchToolRule", "params": [{"tool_type": "web_search"}]},
]


@pytest.fixture(scope="session")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean_provider(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with an empty request record and no queued behaviours."""
    if "provider" in request.fixturenames:
        fake: FakeProvider = request.getfixturevalue("provider")
        fake.clear()
        fake.scenario.reset()
    yield


@pytest.fixture(scope="session")
def proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """The real LiteLLM proxy with our handler, routing the default rules to the fake provider."""
    config_dir = tmp_path_factory.mktemp("ccproxy")
    paths = write_fake_config(
        config_dir,
        provider.base_url,
        free_port(),
        ccproxy={"hooks": TEST_HOOKS, "default_model_passthrough": True, "rules": TEST_RULES},
    )
    with running_proxy(paths) as running:
        yield running


@pytest.fixture
def client(proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=60)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private HOME for commands that write dotfiles (Claude Code, shells)."""
    path = tmp_path / "home"
    path.mkdir()
    return path
