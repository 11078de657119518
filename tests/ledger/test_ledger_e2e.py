"""The ledger through the real proxy: exact costs, budget alerts once per period across restarts, blocking
budgets that never reach the provider, usage that survives restarts."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, UsageOverride
from ccproxy_desktop.testing.helpers import run_ccproxy as ccproxy
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

# USD per million tokens, large so the sums are easy to check by hand.
PRICE = {"input": 100.0, "output": 1000.0, "cache_read": 10.0, "cache_write": 125.0, "cache_write_1h": 200.0}
USAGE = UsageOverride(
    input_tokens=1000,
    output_tokens=500,
    cache_read_input_tokens=2000,
    ephemeral_5m_input_tokens=300,
    ephemeral_1h_input_tokens=100,
)
# 1000*100 + 500*1000 + 2000*10 + 300*125 + 100*200 per million
ANTHROPIC_COST = (100_000 + 500_000 + 20_000 + 37_500 + 20_000) / 1e6
# The OpenAI-format route reports cache writes without their lifetime: all 400 priced as 5-minute writes.
OPENAI_COST = (100_000 + 500_000 + 20_000 + 400 * 125) / 1e6

SETTINGS: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "rules": [
        {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]},
        {"name": "think", "rule": "ThinkingRule"},
        {"name": "web_search", "rule": "MatchToolRule", "params": [{"tool_type": "web_search"}]},
    ],
    "pricing": {name: PRICE for name in ("claude-opus-4-8", "think", "background", "web_search")},
    "budgets": [
        {"name": "thinking", "limit_usd": 3.0, "period": "day", "model": "think"},
        {"name": "haiku-cap", "limit_usd": 1.0, "period": "day", "model": "background", "block": True},
    ],
    "alert_callbacks": ["ccproxy_desktop.testing.hooks.append_alert"],
}


def ledger_rows(paths: ConfigPaths) -> int:
    with Ledger(paths.ledger_db) as ledger:
        return ledger.count()


@pytest.fixture(scope="module")
def alert_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("alerts") / "alerts.jsonl"
    saved = os.environ.get("CCPROXY_TEST_ALERT_FILE")
    os.environ["CCPROXY_TEST_ALERT_FILE"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("CCPROXY_TEST_ALERT_FILE", None)
    else:
        os.environ["CCPROXY_TEST_ALERT_FILE"] = saved


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("ledger"), provider.base_url, free_port(), ccproxy=SETTINGS
    )


@pytest.fixture(scope="module")
def budget_proxy(paths: ConfigPaths, alert_file: Path) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


def send(proxy: RunningProxy, stream: bool = False, **extra: Any) -> anthropic.types.Message:
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0)
    body: dict[str, Any] = {
        "model": "claude-opus-4-8",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(extra)
    if stream:
        with client.messages.stream(**body) as events:
            return events.get_final_message()
    return client.messages.create(**body)


def usage_json(paths: ConfigPaths, *args: str) -> dict[str, Any]:
    result = ccproxy(paths, "usage", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def group(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(g for g in report["groups"] if g["key"] == key)


WEB_SEARCH = [{"type": "web_search_20250305", "name": "web_search"}]


def test_costs_equal_the_hand_computation(
    budget_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    before = ledger_rows(paths)
    for stream in (False, True):
        send(budget_proxy, stream=stream)
        send(budget_proxy, stream=stream, tools=WEB_SEARCH)
    wait_for(lambda: ledger_rows(paths) == before + 4)
    report = usage_json(paths, "--by", "model")
    opus = group(report, "claude-opus-4-8")
    assert opus["requests"] == 2
    assert (
        opus["input_tokens"],
        opus["output_tokens"],
        opus["cache_read_tokens"],
        opus["cache_write_tokens"],
    ) == (
        2000,
        1000,
        4000,
        800,
    )
    assert opus["cost_usd"] == pytest.approx(2 * ANTHROPIC_COST, abs=1e-6)
    search = group(report, "web_search")
    assert search["requests"] == 2
    assert search["cost_usd"] == pytest.approx(2 * OPENAI_COST, abs=1e-6)
    assert report["period"] == "today"
    assert set(report["total"]) == {
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "unknown_cost_requests",
    }


def _alert_events(paths: ConfigPaths, budget: str) -> list[float]:
    with Ledger(paths.ledger_db) as ledger:
        return sorted(
            float(e.payload["fraction"])  # type: ignore[arg-type]
            for e in ledger.events(kinds=["budget_alert"])
            if e.payload.get("budget") == budget
        )


def test_alerts_fire_once_each_and_not_again_after_a_restart(
    budget_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths, alert_file: Path
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    for count in range(1, 6):  # 0.68, 1.36, 2.03, 2.71 (75%, 90%), 3.39 (100%)
        send(budget_proxy, **thinking)
        if count == 3:
            wait_for(lambda: ledger_rows(paths) > 0)
    wait_for(lambda: _alert_events(paths, "thinking") == [0.75, 0.9, 1.0])
    lines = [json.loads(line) for line in alert_file.read_text().splitlines()]
    assert sorted(entry["fraction"] for entry in lines if entry["budget"] == "thinking") == [0.75, 0.9, 1.0]
    rows_before = ledger_rows(paths)

    budget_proxy.control.stop()
    restarted = budget_proxy.control.start_detached()
    restarted_proxy = RunningProxy(paths, restarted, budget_proxy.key)
    send(restarted_proxy, **thinking)
    wait_for(lambda: ledger_rows(paths) == rows_before + 1)
    with Ledger(paths.ledger_db) as ledger:
        assert ledger.count() == rows_before + 1  # everything from before the restart is still there
    time.sleep(0.5)  # give a wrongly repeated alert the time to appear
    assert _alert_events(paths, "thinking") == [0.75, 0.9, 1.0]
    status = next(b for b in json.loads(ccproxy(paths, "budget", "--json").stdout) if b["name"] == "thinking")
    assert status["alerts_sent"] == [0.75, 0.9, 1.0]
    assert status["spent_usd"] == pytest.approx(6 * ANTHROPIC_COST, abs=1e-6)
    assert status["percent"] == pytest.approx(round(6 * ANTHROPIC_COST / 3.0 * 100, 1))
    assert set(status) >= {"name", "period", "limit_usd", "spent_usd", "percent", "alerts_sent", "blocking"}


def test_a_blocking_budget_refuses_without_contacting_the_provider(
    budget_proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    state = budget_proxy.control.state()
    assert state is not None
    proxy = RunningProxy(paths, state, budget_proxy.key)
    haiku = {"model": "claude-haiku-4-5-20251001"}
    send(proxy, **haiku)
    send(proxy, **haiku)  # 0.68 spent before it: allowed; 1.36 after
    wait_for(lambda: json.loads(ccproxy(paths, "budget", "--json").stdout)[1]["spent_usd"] >= 1.0)
    wait_for(lambda: _alert_events(paths, "haiku-cap") == [0.75, 0.9, 1.0])
    provider.clear()
    with pytest.raises(anthropic.BadRequestError) as refused:
        send(proxy, **haiku)
    message = refused.value.body["error"]["message"]
    assert f"budget 'haiku-cap' reached: spent ${2 * ANTHROPIC_COST:.2f} of $1.00 today" in message
    assert provider.requests == []
    send(proxy)  # other models are not in the budget's scope
    assert len(provider.requests) == 1


def test_status_health_reports_from_the_ledger(budget_proxy: RunningProxy, paths: ConfigPaths) -> None:
    before = ledger_rows(paths)
    with contextlib.suppress(anthropic.BadRequestError):  # after the tests above, the blocking budget refuses
        send(budget_proxy)
    wait_for(lambda: ledger_rows(paths) > before)  # a success now or before: the test runs alone too
    result = ccproxy(paths, "status", "--json", "--health")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["running"] is True
    health = status["health"]
    assert set(health) >= {
        "requests_total",
        "requests_succeeded",
        "requests_failed",
        "by_model",
        "by_rule",
        "latency_ms",
        "cost_usd",
    }
    assert health["requests_total"] == health["requests_succeeded"] + health["requests_failed"]
    assert health["requests_succeeded"] > 0
    assert set(health["latency_ms"]) == {"p50", "p95"} and health["latency_ms"]["p50"] > 0
    assert set(health["cost_usd"]) == {"today", "month"} and health["cost_usd"]["today"] > 0
    assert sum(health["by_model"].values()) == health["requests_total"]
    text = ccproxy(paths, "status", "--health")
    assert "requests (since the proxy started)" in text.stdout and "spend: $" in text.stdout
