"""Budget statuses read from the ledger, for the CLI and the tray (the proxy keeps its own tracker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..config.loader import Settings
from ..ledger.budgets import RATE_WINDOW_SECONDS, BudgetStatus, BudgetTracker, period_window
from ..ledger.store import Ledger

__all__ = ["budget_statuses"]


def budget_statuses(settings: Settings, ledger: Ledger, now: Callable[[], datetime]) -> list[BudgetStatus]:
    """Every budget's spend and alerts in its current period, with the burn rate of the last hour."""
    tracker = BudgetTracker(settings.ccproxy.budgets, now)
    moment = now()
    spent: dict[str, float] = {}
    sent: dict[str, list[float]] = {}
    recent: dict[str, float] = {}
    for budget in settings.ccproxy.budgets:
        window = period_window(budget.period, moment)
        until = window.end.timestamp() if window.end else None
        spent[budget.name] = ledger.spend(
            window.start.timestamp(), until, model=budget.model, user=budget.user, project=budget.project
        )
        sent[budget.name] = ledger.alerts_sent(budget.name, window.key)
        hour_ago = max(window.start.timestamp(), moment.timestamp() - RATE_WINDOW_SECONDS)
        recent[budget.name] = ledger.spend(
            hour_ago, until, model=budget.model, user=budget.user, project=budget.project
        )
    tracker.seed(spent, sent)
    tracker.seed_recent(recent)
    return tracker.statuses()
