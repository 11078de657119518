"""The response cache through the real proxy: repeated requests (streaming and not) reach the fake provider
once, key order and metadata don't matter, the routed model is part of the key, `ccproxy cache clear
--model` invalidates one model, and hits show in the ledger and `status --health`."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from ccproxy_desktop.cache.control import cache_stats
from ccproxy_desktop.cache.store import cache_db_path
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import CacheSpec
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.helpers import run_ccproxy as ccproxy
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

SETTINGS: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
    "cache": {"enabled": True, "ttl_seconds": 600, "max_entries": 100},
}


def cache_config(provider: FakeProvider, folder: Path, workers: int, **cache: Any) -> ConfigPaths:
    settings = {**SETTINGS, "cache": {**SETTINGS["cache"], **cache}}
    paths = write_fake_config(folder, provider.base_url, free_port(), ccproxy=settings)
    config = yaml.safe_load(paths.ccproxy_yaml.read_text())
    config["litellm"]["num_workers"] = workers
    paths.ccproxy_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return paths


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return cache_config(provider, tmp_path_factory.mktemp("cache"), workers=1)


@pytest.fixture(scope="module")
def cache_proxy(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


def client(proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=60)


def body(text: str, model: str = "claude-sonnet-5", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}], **extra}


def provider_calls(provider: FakeProvider) -> int:
    return sum(1 for r in provider.requests if r.path.endswith("/messages"))


def stream(proxy: RunningProxy, request: dict[str, Any]) -> anthropic.types.Message:
    with client(proxy).messages.stream(**request) as events:
        return events.get_final_message()


def stored(paths: ConfigPaths) -> int:
    """Entries in cache.db (answers are written a moment after they were sent)."""
    stats = cache_stats(paths, CacheSpec())
    return stats.entries if stats else 0


def cached_rows(paths: ConfigPaths) -> int:
    with Ledger(paths.ledger_db) as ledger, ledger._connection() as conn:
        return int(conn.execute("SELECT count(*) FROM requests WHERE cached AND cost_usd = 0").fetchone()[0])


def test_a_repeated_request_reaches_the_provider_once(
    cache_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    before = stored(paths)
    first = client(cache_proxy).messages.create(**body("non-streamed"))
    wait_for(lambda: stored(paths) == before + 1)
    hits_before = cached_rows(paths)
    second = client(cache_proxy).messages.create(**body("non-streamed"))
    assert provider_calls(provider) == 1
    assert second.content[0].text == first.content[0].text  # type: ignore[union-attr]
    assert second.usage.output_tokens == first.usage.output_tokens
    wait_for(lambda: cached_rows(paths) == hits_before + 1)
    assert stat.S_IMODE(os.stat(cache_db_path(paths)).st_mode) == 0o600


def test_a_repeated_stream_is_replayed_as_valid_sse(
    cache_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    request = body("streamed", tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])
    before = stored(paths)
    first = stream(cache_proxy, request)
    wait_for(lambda: stored(paths) == before + 1)
    replayed = [stream(cache_proxy, request) for _ in range(2)]
    assert provider_calls(provider) == 1
    for message in replayed:
        assert message.model_dump(exclude={"id"}) == first.model_dump(exclude={"id"})
        assert message.stop_reason == first.stop_reason


def test_key_order_and_metadata_do_not_matter(cache_proxy: RunningProxy, provider: FakeProvider) -> None:
    client(cache_proxy).messages.create(**body("order", metadata={"user_id": "session-a"}))
    raw = '{"messages":[{"content":"order","role":"user"}],"max_tokens":50,"model":"claude-sonnet-5"}'
    headers = {
        "x-api-key": cache_proxy.key,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    response = httpx.post(f"{cache_proxy.url}/v1/messages", content=raw, headers=headers, timeout=60)
    assert response.status_code == 200
    assert provider_calls(provider) == 1
    client(cache_proxy).messages.create(**body("order", max_tokens=51))
    assert provider_calls(provider) == 2  # a field that can change the answer is part of the key


def test_the_routed_model_is_part_of_the_key(cache_proxy: RunningProxy, provider: FakeProvider) -> None:
    client(cache_proxy).messages.create(**body("routed", model="claude-opus-4-8"))
    client(cache_proxy).messages.create(**body("routed", model="claude-haiku-4-5"))  # -> background
    client(cache_proxy).messages.create(**body("routed", model="claude-haiku-4-5"))
    assert [r.model for r in provider.requests if r.path.endswith("/messages")] == [
        "claude-opus-4-8",
        "claude-haiku-4-5-20251001",
    ]


def test_clear_one_model_keeps_the_others(
    cache_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    before = stored(paths)
    for model in ("claude-opus-4-8", "claude-haiku-4-5"):
        client(cache_proxy).messages.create(**body("clear", model=model))
    wait_for(lambda: stored(paths) == before + 2)
    stats = cache_stats(paths, CacheSpec())
    assert stats is not None
    result = ccproxy(paths, "cache", "clear", "--model", "background")
    assert result.returncode == 0, result.stderr
    assert f"cleared {stats.by_model['background']} cached responses of model background" in result.stdout
    assert stored(paths) == before + 2 - stats.by_model["background"]
    provider.clear()
    for model in ("claude-opus-4-8", "claude-haiku-4-5"):
        client(cache_proxy).messages.create(**body("clear", model=model))
    assert [r.model for r in provider.requests if r.path.endswith("/messages")] == [
        "claude-haiku-4-5-20251001"
    ]


def test_errors_and_cut_streams_are_not_cached(cache_proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(kind="status", status=400), times=1)
    with pytest.raises(anthropic.BadRequestError):
        client(cache_proxy).messages.create(**body("error"))
    client(cache_proxy).messages.create(**body("error"))
    provider.scenario.push(Behaviour(kind="cut_stream"), times=1)
    with contextlib.suppress(anthropic.APIError, httpx.HTTPError):  # a cut stream may end quietly
        stream(cache_proxy, body("cut"))
    stream(cache_proxy, body("cut"))
    assert provider_calls(provider) == 4


def test_hits_show_in_status_health(cache_proxy: RunningProxy, paths: ConfigPaths) -> None:
    def health() -> dict[str, Any]:
        result = ccproxy(paths, "status", "--json", "--health")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout)["health"])

    wait_for(lambda: health()["cache"]["hits"] >= 3)
    report = health()
    assert 0 < report["cache"]["hit_rate"] < 1
    assert report["cache"]["hit_rate"] == pytest.approx(
        report["cache"]["hits"] / report["requests_succeeded"], abs=1e-3
    )


def test_memory_storage_is_cleared_by_the_cli(provider: FakeProvider, tmp_path: Path) -> None:
    paths = cache_config(provider, tmp_path, workers=1, storage="memory")
    request = body("in memory")
    with running_proxy(paths) as proxy:
        client(proxy).messages.create(**request)
        wait_for(
            lambda: client(proxy).messages.create(**request) is not None and provider_calls(provider) == 1
        )
        assert not cache_db_path(paths).exists()
        result = ccproxy(paths, "cache", "clear", "--model", "claude-sonnet-5")
        assert result.returncode == 0, result.stderr
        assert "running proxies drop their in-memory entries of model claude-sonnet-5" in result.stdout
        wait_for(
            lambda: client(proxy).messages.create(**request) is not None and provider_calls(provider) == 2
        )
