"""Retries and fallbacks through the real proxy and the fake provider: overloaded and dropped requests are
sent again with our backoff, a model that keeps failing falls back, client errors are not retried, and a
stream that breaks after it started ends with a clean error event instead of a retry."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

MODEL = "claude-opus-4-8"
MODELS = {
    "default": ("claude-sonnet-5", "anthropic"),
    "backup": ("claude-backup-1", "anthropic"),
    "gpt": ("gpt-4o", "openai"),
    "claude-*": ("claude-*", "anthropic"),
}
RETRY = {
    "retry_max_attempts": 3,
    "retry_initial_delay": 0.1,
    "retry_multiplier": 2.0,
    "retry_max_delay": 1.5,
    "retry_fallback_model": "backup",
}
SETTINGS: dict[str, Any] = {
    "hooks": ["rule_evaluator", "model_router"],
    "rules": [],
    "default_model_passthrough": True,
    **RETRY,
}
BODY: dict[str, Any] = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("retry"), provider.base_url, free_port(), models=MODELS, ccproxy=SETTINGS
    )


@pytest.fixture(scope="module")
def retry_proxy(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


@pytest.fixture
def client(retry_proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=retry_proxy.url, api_key=retry_proxy.key, max_retries=0, timeout=60)


def ledger_row(paths: ConfigPaths, request_id: str) -> dict[str, Any]:
    """The ledger row of `request_id`, once the writer thread has stored it."""
    found: list[dict[str, Any]] = []

    def stored() -> bool:
        with sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            found[:] = [
                dict(r) for r in db.execute("select * from requests where request_id = ?", (request_id,))
            ]
        return bool(found)

    wait_for(stored)
    return found[0]


def ledger_count(paths: ConfigPaths) -> int:
    with Ledger(paths.ledger_db) as ledger:
        return ledger.count()


def settled_count(paths: ConfigPaths) -> int:
    """The ledger's row count once the rows of earlier requests are written (the writer flushes within
    0.2 s of a response, which the client may already have read)."""
    count = ledger_count(paths)
    while True:
        time.sleep(0.5)
        again = ledger_count(paths)
        if again == count:
            return count
        count = again


def sse_events(proxy: RunningProxy, **extra: Any) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """POST a streaming /v1/messages and return the status and the (event, data) pairs as sent."""
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/messages",
        headers={"x-api-key": proxy.key},
        json={**BODY, "stream": True, **extra},
        timeout=60,
    ) as response:
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
        return response.status_code, events


def test_overloaded_twice_then_success_is_a_success_with_two_retries(
    client: anthropic.Anthropic, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=529), model=MODEL, times=2)
    rows_before = settled_count(paths)
    raw = client.messages.with_raw_response.create(**BODY)
    assert raw.parse().content[0].text.startswith(f"reply from {MODEL}")  # type: ignore[union-attr]
    sent = provider.requests
    assert [r.model for r in sent] == [MODEL] * 3
    # our backoff: 0.1 s, then 0.2 s (LiteLLM's own would wait 0.5 s + up to 0.75 s jitter)
    assert sent[1].time - sent[0].time >= 0.1
    assert sent[2].time - sent[1].time >= 0.2
    row = ledger_row(paths, raw.headers["x-ccproxy-request-id"])
    assert (row["outcome"], row["retried"], row["fallback"], row["routed_model"]) == ("ok", 2, 0, MODEL)
    assert ledger_count(paths) == rows_before + 1  # the failed tries are not separate requests


@pytest.mark.parametrize("behaviour", [Behaviour(kind="reset"), Behaviour(kind="status", status=502)])
def test_dropped_connections_and_bad_gateways_are_retried(
    client: anthropic.Anthropic, provider: FakeProvider, behaviour: Behaviour
) -> None:
    provider.scenario.push(behaviour, model=MODEL)
    reply = client.messages.create(**BODY)
    assert reply.content[0].text.startswith(f"reply from {MODEL}")  # type: ignore[union-attr]
    assert len(provider.requests) == 2


def test_openai_format_requests_are_retried_too(retry_proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(kind="status", status=503), model="gpt-4o")
    response = httpx.post(
        f"{retry_proxy.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {retry_proxy.key}"},
        json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert [r.model for r in provider.requests] == ["gpt-4o", "gpt-4o"]


def test_a_rate_limit_waits_for_retry_after(client: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(kind="status", status=429, retry_after=1), model=MODEL)
    client.messages.create(**BODY)
    first, second = provider.requests
    assert second.time - first.time >= 1.0


def test_a_model_that_keeps_failing_falls_back(
    client: anthropic.Anthropic, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=503), model=MODEL, times=10)
    raw = client.messages.with_raw_response.create(**BODY)
    assert raw.parse().content[0].text.startswith("reply from claude-backup-1")  # type: ignore[union-attr]
    assert [r.model for r in provider.requests] == [MODEL, MODEL, MODEL, "claude-backup-1"]
    row = ledger_row(paths, raw.headers["x-ccproxy-request-id"])
    assert (row["outcome"], row["retried"], row["fallback"]) == ("ok", 3, 1)
    assert (row["requested_model"], row["routed_model"]) == (MODEL, "backup")


CLAUDE_CODE = {"user-agent": "claude-cli/2.1.332 (external, cli)", "x-app": "cli"}


def test_claude_codes_requests_are_not_retried_on_the_same_model(
    retry_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    # Claude Code retries 529s itself: the proxy goes once to the fallback, never to the same model again
    provider.scenario.push(Behaviour(kind="status", status=529), model=MODEL, times=10)
    claude = anthropic.Anthropic(
        base_url=retry_proxy.url,
        api_key=retry_proxy.key,
        max_retries=0,
        timeout=60,
        default_headers=CLAUDE_CODE,
    )
    raw = claude.messages.with_raw_response.create(**BODY)
    assert raw.parse().content[0].text.startswith("reply from claude-backup-1")  # type: ignore[union-attr]
    assert [r.model for r in provider.requests] == [MODEL, "claude-backup-1"]
    row = ledger_row(paths, raw.headers["x-ccproxy-request-id"])
    assert (row["outcome"], row["retried"], row["fallback"]) == ("ok", 1, 1)


def test_when_the_fallback_fails_too_the_client_gets_the_error(
    client: anthropic.Anthropic, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.set_default(Behaviour(kind="status", status=529))
    with pytest.raises(anthropic.APIStatusError) as failed:
        client.messages.create(**BODY)
    # the provider's own 529 overloaded_error, as it sent it (Claude Code reads that status and type)
    assert failed.value.status_code == 529
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(provider.requests) == 4
    row = ledger_row(paths, failed.value.response.headers["x-ccproxy-request-id"])
    assert (row["outcome"], row["retried"], row["fallback"]) == ("error:OverloadedError", 3, 1)


def test_a_bad_request_is_neither_retried_nor_sent_to_the_fallback(
    client: anthropic.Anthropic, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=400, message="bad field"), model=MODEL)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**BODY)
    assert "bad field" in refused.value.body["error"]["message"]  # type: ignore[index]
    assert len(provider.requests) == 1
    row = ledger_row(paths, refused.value.response.headers["x-ccproxy-request-id"])
    assert (row["outcome"], row["retried"], row["fallback"]) == ("error:BadRequestError", 0, 0)


def test_a_stream_that_fails_before_its_first_byte_is_retried(
    retry_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=529), model=MODEL)
    status, events = sse_events(retry_proxy)
    assert status == 200
    names = [name for name, _ in events]
    assert names.count("message_start") == 1 and names[-1] == "message_stop"
    assert len(provider.requests) == 2


def test_a_malformed_stream_before_its_first_byte_is_retried_and_recorded_once(
    retry_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.push(Behaviour(kind="malformed_sse"), model=MODEL)
    rows_before = settled_count(paths)
    status, events = sse_events(retry_proxy)
    assert status == 200
    assert [name for name, _ in events][-1] == "message_stop"
    assert len(provider.requests) == 2
    wait_for(lambda: ledger_count(paths) == rows_before + 1)
    with sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True) as db:
        latest = db.execute("select outcome, retried from requests order by ts desc limit 1").fetchone()
    assert tuple(latest) == ("ok", 1)


def test_a_stream_cut_midway_ends_with_an_error_event_and_no_retry(
    retry_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.push(
        Behaviour(kind="cut_stream", cut_after_events=6, chunk_delay_ms=30), model=MODEL, times=5
    )
    rows_before = settled_count(paths)
    status, events = sse_events(retry_proxy)
    assert status == 200
    names = [name for name, _ in events]
    assert names.count("message_start") == 1 and names.count("content_block_start") == 1
    assert "content_block_delta" in names and "message_stop" not in names
    name, data = events[-1]
    assert name == "error"
    assert data["type"] == "error" and data["error"]["type"] == "api_error" and data["error"]["message"]
    assert len(provider.requests) == 1  # started streams are never sent again
    wait_for(lambda: ledger_count(paths) == rows_before + 1)


def test_the_sdk_sees_a_cut_stream_as_an_error(client: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(kind="cut_stream", cut_after_events=6, chunk_delay_ms=30), model=MODEL)
    with pytest.raises(anthropic.APIStatusError), client.messages.stream(**BODY) as stream:
        for _ in stream:
            pass
    assert len(provider.requests) == 1


def test_retry_settings_follow_a_reload(
    client: anthropic.Anthropic, provider: FakeProvider, paths: ConfigPaths
) -> None:
    with Ledger(paths.ledger_db) as ledger:
        reloads = len(ledger.events(kinds=["config_reloaded"]))
    settings = yaml.safe_load(paths.ccproxy_yaml.read_text())
    settings["ccproxy"]["retry_enabled"] = False
    paths.ccproxy_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))

    def reloaded() -> bool:
        with Ledger(paths.ledger_db) as ledger:
            return len(ledger.events(kinds=["config_reloaded"])) > reloads

    wait_for(reloaded)
    provider.scenario.push(Behaviour(kind="status", status=529), model=MODEL)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(**BODY)
    assert len(provider.requests) == 1
