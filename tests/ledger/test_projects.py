"""Costs per project and per agent (issue 12): grouping, spend by project, and project-scoped budgets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ccproxy_desktop.config.schema import BudgetSpec
from ccproxy_desktop.ledger.budgets import BudgetTracker, applies
from ccproxy_desktop.ledger.queries import NO_KEY, UsageRow
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger

MakeRecord = Callable[..., RequestRecord]
T = 1_700_000_000.0


@pytest.fixture
def project_data(ledger: Ledger, make_record: MakeRecord) -> Ledger:
    rows = [
        make_record(ts=T, project="webapp", agent="main", cost_usd=1.0, usage=TokenUsage(10, 1)),
        make_record(ts=T + 1, project="webapp", agent="Explore", cost_usd=0.25, usage=TokenUsage(20, 2)),
        make_record(ts=T + 2, project="api", agent="main", cost_usd=2.0, usage=TokenUsage(30, 3)),
        make_record(ts=T + 3, project=None, agent=None, cost_usd=None, usage=TokenUsage(40, 4)),
    ]
    for rec in rows:
        ledger.record(rec)
    assert ledger.flush(), ledger.last_error
    return ledger


def row(key: str, requests: int, inputs: int, outputs: int, cost: float, unknown: int = 0) -> UsageRow:
    return UsageRow(key, requests, inputs, outputs, 0, 0, cost, unknown)


def test_usage_by_project(project_data: Ledger) -> None:
    report = project_data.usage(T, group_by="project")
    assert report.groups == [
        row("api", 1, 30, 3, 2.0),
        row("webapp", 2, 30, 3, 1.25),
        row(NO_KEY, 1, 40, 4, 0.0, unknown=1),
    ]
    assert report.total == row(None, 4, 100, 10, 3.25, unknown=1)  # type: ignore[arg-type]


def test_usage_by_agent(project_data: Ledger) -> None:
    groups = project_data.usage(T, group_by="agent").groups
    assert [(g.key, g.requests, g.cost_usd) for g in groups] == [
        ("main", 2, 3.0),
        ("Explore", 1, 0.25),
        (NO_KEY, 1, 0.0),  # rows written before the ledger knew agents
    ]


@pytest.mark.parametrize(
    ("project", "user", "expected"),
    [(None, None, 3.25), ("webapp", None, 1.25), ("api", None, 2.0), ("other", None, 0.0), ("api", "x", 0.0)],
)
def test_spend_by_project(
    project_data: Ledger, project: str | None, user: str | None, expected: float
) -> None:
    assert project_data.spend(T, project=project, user=user) == expected


# --- budgets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "project", "expected"),
    [
        (BudgetSpec(name="b", limit_usd=1), None, True),
        (BudgetSpec(name="b", limit_usd=1), "webapp", True),
        (BudgetSpec(name="b", limit_usd=1, project="webapp"), "webapp", True),
        (BudgetSpec(name="b", limit_usd=1, project="webapp"), "api", False),
        (BudgetSpec(name="b", limit_usd=1, project="webapp"), None, False),
        (BudgetSpec(name="b", limit_usd=1, project="webapp", model="think"), "webapp", False),
    ],
)
def test_applies_with_a_project_scope(budget: BudgetSpec, project: str | None, expected: bool) -> None:
    assert applies(budget, "default", None, project) is expected


def test_a_project_budget_counts_and_blocks_only_its_project(make_record: MakeRecord) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 26, 10, 0, tzinfo=berlin)
    budgets = [
        BudgetSpec(name="webapp-cap", limit_usd=1.0, project="webapp", block=True),
        BudgetSpec(name="all", limit_usd=100.0),
    ]
    tracker = BudgetTracker(budgets, lambda: now)
    tracker.add(make_record(project="webapp", cost_usd=0.6))
    tracker.add(make_record(project="api", cost_usd=5.0))
    assert tracker.blocking("default", None, "webapp") is None
    tracker.add(make_record(project="webapp", cost_usd=0.4))
    spent = {s.name: s.spent_usd for s in tracker.statuses()}
    assert spent == {"webapp-cap": pytest.approx(1.0), "all": pytest.approx(6.0)}
    blocked = tracker.blocking("default", None, "webapp")
    assert blocked is not None and blocked.name == "webapp-cap"
    assert tracker.blocking("default", None, "api") is None
    assert tracker.blocking("default", None, None) is None
