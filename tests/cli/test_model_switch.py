"""The quick model switch through the real proxy: `ccproxy model use NAME` applies from the next request on,
without a restart; rule routes stay unless `--all`; `auto` goes back; the choice shows in `status`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import anthropic
import pytest

from ccproxy_desktop.testing.configs import DEMO_MODELS
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy

pytestmark = pytest.mark.proxy

SONNET = DEMO_MODELS["default"][0]  # what the provider receives for the `default` model_name
HAIKU = DEMO_MODELS["background"][0]


def ccproxy(proxy: RunningProxy, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "ccproxy_desktop.cli.main",
        "--config-dir",
        str(proxy.paths.config_dir),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def auto_after(proxy: RunningProxy) -> Iterator[None]:
    yield
    ccproxy(proxy, "model", "auto")


def served_by(client: anthropic.Anthropic, provider: FakeProvider, model: str = "claude-opus-4-8") -> str:
    provider.clear()
    client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    received = provider.wait_for_requests(1)[-1]
    assert isinstance(received.json, dict)
    return str(received.json["model"])


def test_switch_applies_from_the_next_request_and_keeps_rule_routes(
    client: anthropic.Anthropic, provider: FakeProvider, proxy: RunningProxy, auto_after: None
) -> None:
    pid = proxy.control.state().pid  # type: ignore[union-attr]
    assert served_by(client, provider) == "claude-opus-4-8"
    assert ccproxy(proxy, "model", "use", "default").returncode == 0
    assert served_by(client, provider) == SONNET
    assert served_by(client, provider, HAIKU) == HAIKU  # the background rule keeps its route
    status = json.loads(ccproxy(proxy, "status", "--json").stdout)
    assert status["model_override"] == "default"
    listing = ccproxy(proxy, "model", "list").stdout.splitlines()
    assert "* default" in listing and "  auto (rules decide)" in listing

    assert ccproxy(proxy, "model", "use", "default", "--all").returncode == 0
    assert served_by(client, provider, HAIKU) == SONNET  # now every request

    assert ccproxy(proxy, "model", "auto").returncode == 0
    assert served_by(client, provider) == "claude-opus-4-8"
    assert json.loads(ccproxy(proxy, "status", "--json").stdout)["model_override"] is None
    assert proxy.control.state().pid == pid  # type: ignore[union-attr]  # no restart


def test_unknown_model_is_refused_and_nothing_changes(proxy: RunningProxy, auto_after: None) -> None:
    result = ccproxy(proxy, "model", "use", "no-such-model")
    assert result.returncode == 1
    assert "no model named 'no-such-model'" in result.stderr
    assert json.loads(ccproxy(proxy, "status", "--json").stdout)["model_override"] is None
