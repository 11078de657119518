"""Claude subscription limits through the real proxy: the provider's `anthropic-ratelimit-unified-*` headers
reach the client unchanged and show in `ccproxy status` (issue 12, "Limits, read from the responses")."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, unified_ratelimit_headers
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

TOKEN = "sk-ant-oat01-subscription-token"
ACCOUNT = "4e1c2a7b-0d3f-4b8e-9a61-5f2c7d8e9a10"
USER_ID = json.dumps({"device_id": "d" * 64, "account_uuid": ACCOUNT, "session_id": "8d2f-session"})
MESSAGE: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
    "metadata": {"user_id": USER_ID},
}


@pytest.fixture(scope="module")
def subscription_proxy(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    """A proxy sending a Claude subscription token upstream (`forward_oauth`, the stored-token mode; a
    passed-through login is read the same way)."""
    config_dir = tmp_path_factory.mktemp("subscription")
    token_file = config_dir / "token.txt"
    token_file.write_text(TOKEN + "\n")
    paths = write_fake_config(
        config_dir,
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": [
                "extract_session_id",
                "rule_evaluator",
                "model_router",
                "forward_oauth",
                "add_beta_headers",
            ],
            "claude_credential_hosts": ["127.0.0.1"],
            "oat_sources": {"anthropic": {"file": str(token_file)}},
        },
    )
    with running_proxy(paths) as running:
        yield running


@pytest.fixture
def client(subscription_proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=subscription_proxy.url, api_key=subscription_proxy.key, max_retries=0)


def _status(proxy: RunningProxy) -> dict[str, Any]:
    result = run_ccproxy(proxy.paths, "status", "--json")
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def _wait_for_used(proxy: RunningProxy, window: str, used: float) -> dict[str, Any]:
    """`ccproxy status --json`'s subscription once `window` shows `used` (the file is written within ~1 s)."""
    path = proxy.paths.subscription_file

    def written() -> bool:
        try:
            accounts = json.loads(path.read_text())["accounts"]
        except (OSError, ValueError, KeyError):
            return False
        return bool(accounts.get(ACCOUNT, {}).get("windows", {}).get(window, {}).get("used") == used)

    wait_for(written, timeout=10)
    subscription: dict[str, Any] = _status(proxy)["subscription"]
    return subscription


def _unified(headers: Any) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.startswith("anthropic-ratelimit-unified-")}


def test_limits_show_in_status_and_reach_the_client_unchanged(
    subscription_proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    sent = unified_ratelimit_headers({"5h": 0.62, "7d": 0.3})
    provider.scenario.push(Behaviour(headers=sent))
    raw = client.messages.with_raw_response.create(**MESSAGE)
    assert _unified(raw.headers) == sent  # relayed as the provider sent them
    raw.parse()

    subscription = _wait_for_used(subscription_proxy, "5h", 0.62)
    resets_5h = int(sent["anthropic-ratelimit-unified-5h-reset"])
    assert subscription["account"] == ACCOUNT
    assert subscription["windows"] == {
        "5h": {"used": 0.62, "resets_at": resets_5h, "status": "allowed"},
        "7d": {
            "used": 0.3,
            "resets_at": int(sent["anthropic-ratelimit-unified-7d-reset"]),
            "status": "allowed",
        },
    }
    assert subscription["status"] == "allowed"
    assert subscription["representative_claim"] == "five_hour"
    assert time.time() - subscription["updated_at"] < 60

    path = subscription_proxy.paths.subscription_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TOKEN not in path.read_text() and subscription_proxy.key not in path.read_text()

    text = run_ccproxy(subscription_proxy.paths, "status").stdout
    clock = time.strftime("%H:%M", time.localtime(resets_5h))
    assert "5-hour window: 62% used, resets" in text and clock in text
    assert "7-day window: 30% used, resets" in text


def test_a_stream_updates_the_limits(
    subscription_proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    sent = unified_ratelimit_headers({"5h": 0.8, "7d": 0.31})
    provider.scenario.push(Behaviour(headers=sent))
    with client.messages.with_streaming_response.create(**MESSAGE, stream=True) as response:
        assert _unified(response.headers) == sent
        assert b"message_stop" in response.read()
    subscription = _wait_for_used(subscription_proxy, "5h", 0.8)
    assert subscription["windows"]["5h"]["status"] == "allowed_warning"
    assert subscription["status"] == "allowed_warning"


def test_a_rejection_is_recorded_and_relayed(
    subscription_proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    sent = unified_ratelimit_headers({"5h": 1.0, "7d": 0.4})
    provider.scenario.push(Behaviour(kind="status", status=429, headers=sent), times=10)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(**MESSAGE)
    assert _unified(caught.value.response.headers) == sent
    subscription = _wait_for_used(subscription_proxy, "5h", 1.0)
    assert subscription["windows"]["5h"]["status"] == "rejected"
    assert subscription["status"] == "rejected"
    assert "5-hour window: 100% used" in run_ccproxy(subscription_proxy.paths, "status").stdout


def test_answers_without_the_headers_change_nothing(
    subscription_proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    provider.scenario.push(Behaviour(headers=unified_ratelimit_headers({"5h": 0.05})))
    client.messages.create(**MESSAGE)
    before = _wait_for_used(subscription_proxy, "5h", 0.05)
    raw = client.messages.with_raw_response.create(**MESSAGE)  # the fake's default: no unified headers
    assert _unified(raw.headers) == {}
    time.sleep(1.5)
    assert _status(subscription_proxy)["subscription"] == before


def test_usage_over_the_window_counts_the_requests_since_it_opened(
    subscription_proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    headers = unified_ratelimit_headers({"5h": 0.07}, now=time.time())  # a window opened this hour
    provider.scenario.push(Behaviour(headers=headers))
    client.messages.create(**MESSAGE)
    _wait_for_used(subscription_proxy, "5h", 0.07)
    before = _usage(subscription_proxy, "--window", "5h")
    assert before["period"].startswith("window 5h since ")
    assert before["total"]["requests"] >= 1
    provider.scenario.push(Behaviour(headers=headers))
    client.messages.create(**MESSAGE)
    wait_for(
        lambda: (
            _usage(subscription_proxy, "--window", "5h")["total"]["requests"]
            == before["total"]["requests"] + 1
        ),
        timeout=10,
    )
    unknown = run_ccproxy(subscription_proxy.paths, "usage", "--window", "7d_opus")
    assert unknown.returncode == 1
    assert "--window 7d_opus: no reset time known for it (windows known: 5h)" in unknown.stderr


def _usage(proxy: RunningProxy, *args: str) -> dict[str, Any]:
    result = run_ccproxy(proxy.paths, "usage", *args, "--json")
    assert result.returncode == 0, result.stderr
    usage: dict[str, Any] = json.loads(result.stdout)
    return usage
