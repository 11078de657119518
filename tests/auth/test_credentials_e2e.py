"""Credentials through the real proxy and the fake provider (with its OAuth token endpoint): the stored token
reaches the provider, an expiring token is refreshed before expiry, a 401 is refreshed and retried once,
a failing token endpoint backs off and is reported, and no token shows up in logs, ledger or `ps`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.helpers import run_ccproxy as ccproxy
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

STORED = "sk-ant-oat01-stored-token-do-not-leak"
REFRESH = "refresh-token-do-not-leak"


def received_auth(provider: FakeProvider) -> str:
    """The credential the provider received: `Bearer <token>` or, for a non-OAuth token, the x-api-key."""
    headers = provider.wait_for_requests(1)[-1].headers
    return headers.get("authorization") or headers.get("x-api-key", "")


@pytest.fixture(scope="module")
def config(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    ccproxy_section = {
        "hooks": ["rule_evaluator", "model_router", "forward_oauth", "add_beta_headers"],
        "claude_credential_hosts": ["127.0.0.1"],
        "credential_store": "file",
    }
    paths = write_fake_config(
        tmp_path_factory.mktemp("creds"), provider.base_url, free_port(), ccproxy=ccproxy_section
    )
    # Models without their own key, so the stored token is what authenticates.
    models = paths.litellm_yaml.read_text().replace("api_key: fake-provider-key", "api_key: placeholder")
    paths.litellm_yaml.write_text(models)
    return paths


@pytest.fixture(scope="module")
def proxy_with_store(config: ConfigPaths, provider: FakeProvider) -> Iterator[RunningProxy]:
    stored = {
        "access_token": STORED,
        "refresh_token": REFRESH,
        "expires_in": 3600,
        "token_url": f"{provider.base_url}/oauth/token",
        "client_id": "test-client",
    }
    result = ccproxy(config, "auth", "set", "anthropic", stdin=json.dumps(stored))
    assert result.returncode == 0, result.stderr
    with running_proxy(config) as running:
        yield running


def client_for(proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)


def ask(proxy: RunningProxy) -> anthropic.types.Message:
    return client_for(proxy).messages.create(
        model="claude-opus-4-8", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )


def test_the_provider_receives_the_stored_token(
    proxy_with_store: RunningProxy, provider: FakeProvider
) -> None:
    ask(proxy_with_store)
    assert received_auth(provider) == f"Bearer {STORED}"
    betas = provider.requests[-1].headers.get("anthropic-beta", "")
    assert "oauth-2025-04-20" in betas


def test_status_shows_source_and_expiry_but_no_secret(
    proxy_with_store: RunningProxy, config: ConfigPaths
) -> None:
    result = ccproxy(config, "auth", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    row = next(r for r in status["providers"] if r["provider"] == "anthropic")
    assert row["source"] == "oauth2" and row["refreshable"] is True and row["expires_at"] > time.time()
    assert STORED not in result.stdout and REFRESH not in result.stdout


def test_a_401_is_refreshed_once_and_retried_once(
    proxy_with_store: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.expected_token = "only-tokens-issued-by-the-token-endpoint"
    try:
        message = ask(proxy_with_store)  # the stored token is refused; the proxy refreshes and retries
        assert message.content[0].type == "text"
        grants = [r for r in provider.requests if r.path == "/oauth/token"]
        assert len(grants) == 1
        calls = [r for r in provider.requests if r.path == "/v1/messages"]
        assert len(calls) == 2
        assert calls[0].headers["authorization"] == f"Bearer {STORED}"
        retried_with = calls[1].headers.get("authorization") or calls[1].headers.get("x-api-key", "")
        assert retried_with and STORED not in retried_with
        provider.clear()
        ask(proxy_with_store)  # the refreshed token is used from now on, no new grant
        assert [r.path for r in provider.requests] == ["/v1/messages"]
    finally:
        provider.scenario.expected_token = None


def test_no_token_in_logs_ledger_or_process_list(proxy_with_store: RunningProxy, config: ConfigPaths) -> None:
    ask(proxy_with_store)
    ps = subprocess.run(["ps", "auxww"], capture_output=True, text=True, check=True).stdout
    environ = Path(f"/proc/{proxy_with_store.state.pid}/cmdline").read_bytes().decode(errors="replace")
    ledger_bytes = b"".join(p.read_bytes() for p in config.config_dir.glob("ledger.db*"))
    for secret in (STORED, REFRESH):
        assert secret not in proxy_with_store.log_text()
        assert secret.encode() not in ledger_bytes
        assert secret not in ps and secret not in environ


def test_an_expiring_token_is_refreshed_before_it_expires(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(
        tmp_path / "cfg",
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": ["rule_evaluator", "model_router", "forward_oauth"],
            "claude_credential_hosts": ["127.0.0.1"],
            "credential_store": "file",
        },
    )
    lifetime = 6.0  # refreshed at 80%: 4.8 s after it was obtained
    stored = {
        "access_token": "sk-ant-oat01-short-lived",
        "refresh_token": "r1",
        "expires_in": lifetime,
        "token_url": f"{provider.base_url}/oauth/token",
        "client_id": "c",
    }
    with running_proxy(paths) as proxy:
        # Stored while the proxy runs: it re-reads the store and schedules the refresh.
        assert ccproxy(paths, "auth", "set", "anthropic", stdin=json.dumps(stored)).returncode == 0
        obtained = time.time()
        wait_for(lambda: any(r.path == "/oauth/token" for r in provider.requests), timeout=30)
        refreshed_at = next(r.time for r in provider.requests if r.path == "/oauth/token")
        assert refreshed_at < obtained + lifetime
        provider.clear()
        ask(proxy)
        assert received_auth(provider) not in ("", "Bearer sk-ant-oat01-short-lived")


def test_a_failing_token_endpoint_backs_off_and_is_reported(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(
        tmp_path / "cfg",
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": ["rule_evaluator", "model_router", "forward_oauth"],
            "claude_credential_hosts": ["127.0.0.1"],
            "credential_store": "file",
        },
    )
    stored = {
        "access_token": "sk-ant-oat01-expiring",
        "refresh_token": "r2",
        "expires_in": 1.0,
        "token_url": f"{provider.base_url}/oauth/token",
        "client_id": "c",
    }
    provider.scenario.push(Behaviour(kind="status", status=500), path="/oauth/token", times=50)
    assert ccproxy(paths, "auth", "set", "anthropic", stdin=json.dumps(stored)).returncode == 0
    with running_proxy(paths):
        wait_for(lambda: _failure_reported(paths), timeout=30)
        grants = [r for r in provider.requests if r.path == "/oauth/token"]
        status = json.loads(ccproxy(paths, "auth", "status", "--json").stdout)
        row = next(r for r in status["providers"] if r["provider"] == "anthropic")
        assert row["last_error"]
        time.sleep(3)  # backing off: no storm of grants in the meantime
        assert len([r for r in provider.requests if r.path == "/oauth/token"]) <= len(grants) + 1


def _failure_reported(paths: ConfigPaths) -> bool:
    from ccproxy_desktop.ledger.store import Ledger

    if not paths.ledger_db.exists():
        return False
    with Ledger(paths.ledger_db) as ledger:
        return any(
            e.payload.get("provider") == "anthropic" for e in ledger.events(kinds=["credential_failure"])
        )


def test_without_any_keyring_the_proxy_starts_warns_once_and_works(
    provider: FakeProvider, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text("sk-ant-oat01-from-a-file\n")
    paths = write_fake_config(
        tmp_path / "cfg",
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": ["rule_evaluator", "model_router", "forward_oauth"],
            "claude_credential_hosts": ["127.0.0.1"],
            "oat_sources": {"anthropic": {"file": str(token_file)}},
        },
    )
    env_backup = os.environ.get("PYTHON_KEYRING_BACKEND")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    try:
        with running_proxy(paths) as proxy:
            ask(proxy)
            assert received_auth(provider) == "Bearer sk-ant-oat01-from-a-file"
            log = proxy.log_text()
            assert log.count("kept in memory for this session only") == 1, log[-3000:]
    finally:
        if env_backup is None:
            os.environ.pop("PYTHON_KEYRING_BACKEND", None)
        else:
            os.environ["PYTHON_KEYRING_BACKEND"] = env_backup
