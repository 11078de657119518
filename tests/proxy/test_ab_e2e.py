"""A/B tests through the real proxy: each Claude Code session's requests go to its sticky variant, ledger rows
are tagged with it, the quick model switch takes requests out of the test, and `ccproxy ab report` reads it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import anthropic
import pytest
import yaml

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import ABTestSpec
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.pipeline.ab import ABTests
from ccproxy_desktop.testing.configs import DEMO_MODELS, free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

TEST = {
    "name": "think-vs-default",
    "label": "default",
    "variants": [{"model": "think", "weight": 0.5}, {"model": "default", "weight": 0.5}],
    "min_samples": 10,
}
SETTINGS: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
    "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
    "ab_tests": [TEST],
}


def variant_of(session: str) -> str:
    assignment = ABTests([ABTestSpec.model_validate(TEST)]).assign("default", f"session:{session}")
    assert assignment is not None
    return assignment.model


def one_session_per_variant() -> dict[str, str]:
    """variant model -> a session id assigned to it."""
    found: dict[str, str] = {}
    for n in range(100):
        session = str(uuid.UUID(int=n + 1, version=4))
        found.setdefault(variant_of(session), session)
    assert set(found) == {"think", "default"}
    return found


@pytest.fixture(scope="module")
def ab_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(tmp_path_factory.mktemp("ab"), provider.base_url, free_port(), ccproxy=SETTINGS)
    with running_proxy(paths) as running:
        yield running


def send(proxy: RunningProxy, user_id: str, model: str = "claude-opus-4-8", stream: bool = False) -> None:
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=60)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": user_id},
    }
    if stream:
        with client.messages.stream(**body) as events:
            events.get_final_message()
    else:
        client.messages.create(**body)


def claude_code_user_id(session: str, legacy: bool) -> str:
    """Claude Code's metadata.user_id: the JSON form of current versions or the older string."""
    if legacy:
        return f"user_{'ab' * 32}_account_3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c_session_{session}"
    return json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": session})


def ledger_rows(paths: ConfigPaths) -> list[tuple[str | None, str, str, str | None]]:
    with closing(sqlite3.connect(paths.ledger_db)) as conn:
        sql = "SELECT session_id, label, routed_model, variant FROM requests ORDER BY id"
        return list(conn.execute(sql))


def count(paths: ConfigPaths) -> int:
    with Ledger(paths.ledger_db) as ledger:
        return ledger.count()


def test_sessions_stick_to_their_variant_and_rows_are_tagged(
    ab_proxy: RunningProxy, provider: FakeProvider
) -> None:
    paths = ab_proxy.paths
    sessions = one_session_per_variant()
    for variant, session in sessions.items():
        for n in range(3):
            send(ab_proxy, claude_code_user_id(session, legacy=variant == "think"), stream=n == 2)
    seen = [r.model for r in provider.wait_for_requests(6, timeout=30)]
    assert seen == [DEMO_MODELS[variant][0] for variant in sessions for _ in range(3)]
    wait_for(lambda: count(paths) >= 6)
    rows = ledger_rows(paths)
    assert rows == [
        (session, "default", variant, f"think-vs-default:{variant}")
        for variant, session in sessions.items()
        for _ in range(3)
    ]

    # A request of another label is not in the test.
    send(ab_proxy, claude_code_user_id(sessions["think"], legacy=False), model="claude-haiku-4-5")
    wait_for(lambda: count(paths) >= 7)
    assert ledger_rows(paths)[-1] == (sessions["think"], "background", "background", None)

    # The quick model switch wins: the request goes where the user said and is not part of the test.
    assert run_ccproxy(paths, "model", "use", "background", "--all").returncode == 0
    try:
        send(ab_proxy, claude_code_user_id(sessions["think"], legacy=False))
        wait_for(lambda: count(paths) >= 8)
    finally:
        assert run_ccproxy(paths, "model", "auto").returncode == 0
    assert ledger_rows(paths)[-1] == (sessions["think"], "default", "background", None)

    result = run_ccproxy(paths, "ab", "report", "--json")
    assert result.returncode == 0, result.stderr
    (test,) = json.loads(result.stdout)
    assert test["name"] == "think-vs-default"
    assert {v["model"]: (v["requests"], v["success_rate"]) for v in test["variants"]} == {
        "think": (3, 1.0),
        "default": (3, 1.0),
    }
    assert all(v["latency_ms"]["p50"] > 0 for v in test["variants"])
    assert test["winner"] is None
    assert test["reason"].startswith("no winner yet: too few samples (")
    # At least the 7 requests per variant still missing; more if the latencies seen so far need them.
    assert test["samples_needed"] >= 7


def test_disabling_the_test_applies_without_a_restart(ab_proxy: RunningProxy) -> None:
    paths = ab_proxy.paths
    session = one_session_per_variant()["think"]
    config = yaml.safe_load(paths.ccproxy_yaml.read_text())
    config["ccproxy"]["ab_tests"][0]["enabled"] = False
    paths.ccproxy_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    wait_for(lambda: "config reloaded" in ab_proxy.log_text(), timeout=30)
    before = count(paths)
    send(ab_proxy, claude_code_user_id(session, legacy=False))
    wait_for(lambda: count(paths) > before)
    assert ledger_rows(paths)[-1] == (session, "default", "claude-opus-4-8", None)  # passthrough again
    (test,) = json.loads(run_ccproxy(paths, "ab", "report", "--json").stdout)
    assert test["enabled"] is False  # still reported
