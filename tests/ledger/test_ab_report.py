"""`ccproxy ab report` over a real ledger file: per-variant figures, the verdict, JSON and text output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.records import RequestRecord
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.helpers import run_ccproxy

TESTS: list[dict[str, Any]] = [
    {
        "name": "t",
        "label": "default",
        "variants": [{"model": "think", "weight": 0.5}, {"model": "background", "weight": 0.5}],
        "min_samples": 10,
    },
    {"name": "t2", "label": "background", "variants": [{"model": "think"}, {"model": "default"}]},
]


@pytest.fixture
def paths(tmp_path: Path) -> ConfigPaths:
    section = {"hooks": ["extract_session_id", "rule_evaluator", "model_router"], "ab_tests": TESTS}
    return write_fake_config(tmp_path / "config", "http://127.0.0.1:9", free_port(), ccproxy=section)


Row = Callable[..., RequestRecord]


@pytest.fixture
def row(make_record: Callable[..., RequestRecord]) -> Row:
    """A ledger row of `variant` ("<test>:<model>", or None for an untagged request)."""

    def build(
        variant: str | None, outcome: str = "ok", latency: float = 1000.0, cost: float | None = 0.01
    ) -> RequestRecord:
        return make_record(
            routed_model=variant.split(":", 1)[1] if variant else "default",
            cost_usd=cost if outcome == "ok" else 0.0,
            latency_ms=latency,
            outcome=outcome,
            variant=variant,
        )

    return build


def fill(paths: ConfigPaths, records: list[RequestRecord]) -> None:
    with Ledger(paths.ledger_db) as ledger:
        for record in records:
            ledger.record(record)
        assert ledger.flush()


def report_json(paths: ConfigPaths, *args: str) -> list[dict[str, Any]]:
    result = run_ccproxy(paths, "ab", "report", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_figures_per_variant(paths: ConfigPaths, row: Row) -> None:
    think = [row("t:think", latency=100.0 * (i + 1), cost=0.02) for i in range(20)]
    think += [row("t:think", outcome="error:RateLimitError") for i in range(5)]
    background = [row("t:background", latency=50.0, cost=None) for i in range(12)]
    others = [
        row(None, outcome="refused"),  # refused by us: never tagged
        row("t2:think"),  # another test whose name starts alike
        row("t:gone"),  # a model no longer in the test
    ]
    fill(paths, think + background + others)
    report = report_json(paths, "--test", "t")
    assert len(report) == 1
    test = report[0]
    assert {k: test[k] for k in ("name", "label", "enabled", "significance", "min_samples")} == {
        "name": "t",
        "label": "default",
        "enabled": True,
        "significance": 0.05,
        "min_samples": 10,
    }
    by_model = {v["model"]: v for v in test["variants"]}
    assert by_model["think"] == {
        "model": "think",
        "weight": 0.5,
        "requests": 25,
        "successes": 20,
        "success_rate": 0.8,
        "latency_ms": {"p50": 1000.0, "p95": 1900.0},
        "cost_per_request_usd": pytest.approx(20 * 0.02 / 25),  # failures cost $0 and count
    }
    assert by_model["background"]["requests"] == 12
    assert by_model["background"]["cost_per_request_usd"] is None  # no known price
    # 100% vs 80% at 12 and 25 requests is not a significant difference (p = 0.096); every latency of
    # `background` is lower: it wins on latency.
    assert (test["winner"], test["samples_needed"]) == ("background", 0)
    assert test["reason"] == (
        "success rates don't differ (100.0% vs 80.0%, p=0.0957) and latency is lower: median 50 ms vs "
        "1000 ms (think), Mann-Whitney U p=1.77e-06 < 0.025"
    )


def test_verdict_in_json_and_text(paths: ConfigPaths, row: Row) -> None:
    fast = [row("t:background", latency=500.0 + i) for i in range(40)]
    slow = [row("t:think", latency=2000.0 + i) for i in range(40)]
    fill(paths, fast + slow)
    test = report_json(paths, "--test", "t")[0]
    assert test["winner"] == "background"
    assert test["samples_needed"] == 0
    assert test["reason"].startswith(
        "success rates don't differ (100.0% vs 100.0%, p=1) and latency is lower"
    )
    text = run_ccproxy(paths, "ab", "report")
    assert text.returncode == 0, text.stderr
    assert "t (label default, significance 0.05, at least 10 requests per variant)" in text.stdout
    assert "  winner: background: success rates don't differ" in text.stdout
    # t2 has no data yet.
    assert (
        "no winner yet: too few samples (think has 0 of the 100 requests each variant needs); at least 100 "
        "more requests per variant" in text.stdout
    )


def test_unknown_test_and_no_tests(paths: ConfigPaths, tmp_path: Path) -> None:
    result = run_ccproxy(paths, "ab", "report", "--test", "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == "ccproxy: no A/B test named 'nope' (tests: t, t2)"
    bare = write_fake_config(tmp_path / "bare", "http://127.0.0.1:9", free_port())
    result = run_ccproxy(bare, "ab", "report")
    assert result.returncode == 0
    assert result.stdout.strip() == (
        "no A/B tests configured (add an `ab_tests:` list under `ccproxy:` in ccproxy.yaml)"
    )
    assert report_json(bare) == []
