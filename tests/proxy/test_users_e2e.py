"""Users through the real proxy: user keys in both headers (LiteLLM's custom auth, no database), a blocked
model refused, a rate limit answered 429 with retry-after, a token limit that holds across a restart, and
each user's usage reported apart."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.proxy.accounting import RESYNC_SECONDS
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, UsageOverride
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy
from ccproxy_desktop.users.keys import hash_key, new_user_key

pytestmark = pytest.mark.proxy

KEYS = {name: new_user_key() for name in ("alice", "bob", "rate", "limited")}
USAGE = UsageOverride(input_tokens=1000, output_tokens=500, cache_read_input_tokens=4000)
# Counted per request: input + output (cache reads are not counted) = 1,500.
USERS: dict[str, dict[str, Any]] = {
    "alice": {"blocked_models": ["*opus*"]},
    "bob": {"allowed_models": ["claude-sonnet-*"]},
    "rate": {"requests_per_minute": 2},
    "limited": {"daily_token_limit": 2000},
}
SETTINGS: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "pricing": {"claude-sonnet-5": {"input": 3.0, "output": 15.0}},
    "users": {name: {"key_hash": hash_key(KEYS[name]), **limits} for name, limits in USERS.items()},
}


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("users"), provider.base_url, free_port(), ccproxy=SETTINGS
    )


@pytest.fixture(scope="module")
def users_proxy(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


def client(proxy: RunningProxy, user: str | None = None, bearer: bool = False) -> anthropic.Anthropic:
    key = proxy.key if user is None else KEYS[user]
    if bearer:
        return anthropic.Anthropic(base_url=proxy.url, auth_token=key, api_key=None, max_retries=0)
    return anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0)


def ask(proxy: RunningProxy, user: str | None, model: str = "claude-sonnet-5", bearer: bool = False) -> Any:
    return client(proxy, user, bearer).messages.create(
        model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )


def test_user_keys_are_accepted_in_either_header_and_other_keys_are_not(
    users_proxy: RunningProxy, provider: FakeProvider
) -> None:
    assert ask(users_proxy, "alice").content
    assert ask(users_proxy, "alice", bearer=True).content
    assert ask(users_proxy, None).content  # the master key keeps working, with no user limits
    with pytest.raises(anthropic.PermissionDeniedError, match="not accepted by the proxy"):
        anthropic.Anthropic(base_url=users_proxy.url, api_key=new_user_key(), max_retries=0).messages.create(
            model="claude-sonnet-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert len(provider.requests) == 3


def test_user_keys_cannot_read_the_proxys_status(users_proxy: RunningProxy) -> None:
    reply = httpx.get(f"{users_proxy.url}/ccproxy/status", headers={"x-api-key": KEYS["bob"]}, timeout=30)
    assert reply.status_code == 403, reply.text
    master = httpx.get(
        f"{users_proxy.url}/ccproxy/status", headers={"x-api-key": users_proxy.key}, timeout=30
    )
    assert master.status_code == 200, master.text
    # LiteLLM's management routes are not served at all, for anyone
    for key in (KEYS["bob"], users_proxy.key):
        info = httpx.get(f"{users_proxy.url}/model/info", headers={"x-api-key": key}, timeout=30)
        assert info.status_code == 404 and info.json()["error"]["type"] == "not_found_error"


def test_a_blocked_model_is_refused_before_the_provider(
    users_proxy: RunningProxy, provider: FakeProvider
) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        ask(users_proxy, "alice", model="claude-opus-4-8")
    assert refused.value.status_code == 403
    assert refused.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    assert "may not use model 'claude-opus-4-8'" in str(refused.value)
    with pytest.raises(anthropic.PermissionDeniedError, match="allowed_models: claude-sonnet-"):
        ask(users_proxy, "bob", model="claude-haiku-4-5")
    assert ask(users_proxy, "bob").content
    assert len(provider.requests) == 1


def test_over_the_rate_limit_is_429_with_retry_after(
    users_proxy: RunningProxy, provider: FakeProvider
) -> None:
    ask(users_proxy, "rate")
    ask(users_proxy, "rate")
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(users_proxy, "rate")
    assert limited.value.status_code == 429
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "limit of 2 requests per minute" in str(limited.value)
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    assert len(provider.requests) == 2
    ask(users_proxy, "alice")  # other users are not affected


def signs_in(proxy: RunningProxy, key: str) -> bool:
    try:
        anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0).messages.create(
            model="claude-sonnet-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    except anthropic.PermissionDeniedError:
        return False
    return True


def test_a_user_added_with_the_cli_signs_in_without_a_restart(
    users_proxy: RunningProxy, paths: ConfigPaths
) -> None:
    added = run_ccproxy(paths, "user", "add", "carol", "--daily-token-limit", "100000", "--block", "*opus*")
    assert added.returncode == 0, added.stderr
    key = next(
        line.strip() for line in added.stdout.splitlines() if line.strip().startswith("sk-ccproxy-user-")
    )
    # `user add` writes ccproxy.yaml in place (config/edit.py) and the running proxy reloads it.
    config = yaml.safe_load(paths.ccproxy_yaml.read_text())
    assert config["ccproxy"]["users"]["carol"]["blocked_models"] == ["*opus*"]
    assert key not in paths.ccproxy_yaml.read_text()
    wait_for(lambda: signs_in(users_proxy, key), timeout=30, interval=0.5)
    again = run_ccproxy(paths, "user", "add", "carol")
    assert again.returncode == 1 and "already exists" in again.stderr


def committed_requests(paths: ConfigPaths, user: str) -> int:
    with Ledger(paths.ledger_db) as ledger:
        groups = ledger.usage(None, group_by="user").groups
    return next((g.requests for g in groups if g.key == user), 0)


def usage_by_user(paths: ConfigPaths) -> dict[str, dict[str, Any]]:
    result = run_ccproxy(paths, "usage", "--by", "user", "--json")
    assert result.returncode == 0, result.stderr
    return {g["key"]: g for g in json.loads(result.stdout)["groups"]}


def test_token_limit_holds_after_a_restart_and_usage_is_reported_per_user(
    users_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    ask(users_proxy, "limited")  # 1,500 of 2,000 tokens
    ask(users_proxy, "limited")  # still under the limit when sent: 3,000
    assert len(provider.requests) == 2
    wait_for(lambda: committed_requests(paths, "limited") == 2)  # the ledger row follows the response
    with pytest.raises(anthropic.BadRequestError) as exhausted:
        ask(users_proxy, "limited")
    assert "has used 3,000 of the 2,000 tokens allowed today" in str(exhausted.value)
    users_proxy.control.stop()
    with running_proxy(paths) as restarted:
        with pytest.raises(anthropic.BadRequestError, match="tokens allowed today"):
            ask(restarted, "limited")
        ask(restarted, "bob")
    # LiteLLM's start-up sends the provider an empty POST of its own; count the model requests.
    assert len([r for r in provider.requests if r.json]) == 3

    usage = usage_by_user(paths)
    assert usage["limited"]["input_tokens"] == 2000 and usage["limited"]["output_tokens"] == 1000
    assert usage["bob"]["input_tokens"] >= 1000 and usage["bob"]["requests"] == 3
    listed = run_ccproxy(paths, "user", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["limited"]["today"]["tokens"] == 3000
    assert rows["limited"]["limits"]["daily_token_limit"] == 2000
    assert rows["bob"]["today"]["requests"] == 3
    assert rows["alice"]["today"]["requests"] == 4  # refusals count as requests, at no tokens
    table = run_ccproxy(paths, "user", "list").stdout
    assert "3,000/2,000" in table and "only claude-sonnet-*" in table and "not *opus*" in table


def worker_of(proxy: RunningProxy, call_id: str) -> str:
    """The pid of the worker that routed request `call_id` (from its `route` log line)."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = re.findall(rf"\[(\d+)\] INFO \S+: route {re.escape(call_id)}:", proxy.log_text())
        return bool(found)

    wait_for(logged)
    return found[0]


def post(connection: httpx.Client, key: str) -> httpx.Response:
    body = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return connection.post("/v1/messages", json=body, headers=headers)


def test_limits_hold_across_two_workers(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> None:
    users = {
        "rate": {"key_hash": hash_key(KEYS["rate"]), "requests_per_minute": 4},
        "limited": {"key_hash": hash_key(KEYS["limited"]), "daily_token_limit": 2000},
    }
    paths = write_fake_config(
        tmp_path_factory.mktemp("workers"),
        provider.base_url,
        free_port(),
        ccproxy={**SETTINGS, "users": users},
    )
    config = yaml.safe_load(paths.ccproxy_yaml.read_text())
    config["litellm"]["num_workers"] = 2
    paths.ccproxy_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    provider.scenario.set_default(Behaviour(usage=USAGE))
    with running_proxy(paths, timeout=600) as proxy:  # two LiteLLM imports: slow on a busy machine
        # Keep-alive connections until one is served by each worker (the second may still be importing
        # LiteLLM when the first answers the health check).
        by_worker: dict[str, httpx.Client] = {}
        deadline = time.monotonic() + 300
        while len(by_worker) < 2 and time.monotonic() < deadline:
            connection = httpx.Client(base_url=proxy.url, timeout=30)
            reply = post(connection, proxy.key)
            assert reply.status_code == 200, reply.text
            worker = worker_of(proxy, reply.headers["x-ccproxy-request-id"])
            if worker in by_worker:
                connection.close()
                time.sleep(0.5)
            by_worker.setdefault(worker, connection)
        assert len(by_worker) == 2, "the second worker never took a connection"
        first, second = by_worker.values()
        for connection in (first, first, second, second):  # 4 requests per minute, two from each worker
            assert post(connection, KEYS["rate"]).status_code == 200
        refused = post(first, KEYS["rate"])
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert post(first, KEYS["limited"]).status_code == 200
        assert post(first, KEYS["limited"]).status_code == 200  # 3,000 tokens, counted by the first worker
        time.sleep(RESYNC_SECONDS + 1.5)  # the second worker re-reads the ledger every 2 s
        exhausted = post(second, KEYS["limited"])
        assert exhausted.status_code == 400 and "tokens allowed today" in exhausted.text
