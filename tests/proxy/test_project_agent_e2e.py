"""Costs per project and per agent through the real proxy: the `x-ccproxy-project` header and Claude Code's
subagent headers land in the ledger, `ccproxy usage --by project|agent` splits them, and a project-scoped
blocking budget refuses only that project's requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, UsageOverride
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for, wait_for_rows
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

USAGE = UsageOverride(input_tokens=1000, output_tokens=500)
COST = (1000 * 3.0 + 500 * 15.0) / 1e6  # $0.0105 a request
SETTINGS: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "pricing": {"claude-sonnet-5": {"input": 3.0, "output": 15.0}},
    # Reached by the second "webapp" request; "api" has no budget of its own.
    "budgets": [
        {"name": "webapp-cap", "limit_usd": 1.5 * COST, "project": "webapp", "block": True, "alert_at": [1.0]}
    ],
}
SUBAGENT = {
    "x-claude-code-agent-id": "a7a6937c0a9b2176e",
    "x-claude-code-parent-agent-id": "a0123456789abcdef",
}


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("projects"), provider.base_url, free_port(), ccproxy=SETTINGS
    )


@pytest.fixture(scope="module")
def proxy(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


def ask(proxy: RunningProxy, project: str | None, **headers: str) -> Any:
    if project is not None:
        headers["x-ccproxy-project"] = project
    client = anthropic.Anthropic(
        base_url=proxy.url, api_key=proxy.key, max_retries=0, default_headers=headers
    )
    return client.messages.create(
        model="claude-sonnet-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )


def usage_by(paths: ConfigPaths, by: str) -> dict[str, dict[str, Any]]:
    result = run_ccproxy(paths, "usage", "--period", "all", "--by", by, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"period", "total", "groups"}
    return {group["key"]: group for group in report["groups"]}


def test_projects_and_agents_are_reported_apart_and_a_project_budget_blocks_only_its_project(
    proxy: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    ask(proxy, "webapp")
    ask(proxy, "webapp", **SUBAGENT)
    ask(proxy, "api")
    ask(proxy, None)
    assert len(provider.requests) == 4
    # our own header is not sent on to the provider
    assert all("x-ccproxy-project" not in r.headers for r in provider.requests)
    assert wait_for_rows(paths, 4) == 4

    by_project = usage_by(paths, "project")
    assert {key: group["requests"] for key, group in by_project.items()} == {
        "webapp": 2,
        "api": 1,
        "(none)": 1,
    }
    assert by_project["webapp"]["cost_usd"] == pytest.approx(2 * COST)
    assert by_project["api"]["cost_usd"] == pytest.approx(COST)
    assert set(by_project["api"]) >= {  # the DESIGN shape
        "key",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
    }
    by_agent = usage_by(paths, "agent")
    assert {key: group["requests"] for key, group in by_agent.items()} == {"main": 3, "a7a6937c0a9b2176e": 1}

    # "webapp" spent 2 x $0.0105 of its $0.01575: its next request is refused, the others' are not
    def refused() -> bool:
        try:
            ask(proxy, "webapp")
        except anthropic.BadRequestError as exc:
            assert "ccproxy budget 'webapp-cap' reached" in str(exc)
            return True
        return False

    wait_for(refused)
    sent = len(provider.requests)
    assert ask(proxy, "api").content
    assert ask(proxy, None).content
    assert ask(proxy, "webapp-two").content
    assert len(provider.requests) == sent + 3
    budget = json.loads(run_ccproxy(paths, "budget", "--json").stdout)
    assert budget[0]["name"] == "webapp-cap" and budget[0]["spent_usd"] >= 1.5 * COST
