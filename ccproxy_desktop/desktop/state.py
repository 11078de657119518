"""What the tray shows, as one frozen value: the proxy, spend and budgets, models, integrations.

`AppState` is replaced as a whole (`dataclasses.replace`) by the thread that learns something new: the
supervisor (proxy), the ledger poller (spend, budgets, models, toggles). The menu and the icon are pure
functions of it (`menu.build_menu`, `AppState.icon_kind`). Pure: imports nothing from the OS or GUI toolkits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..ledger.budgets import BudgetStatus
from ..pipeline.router import ModelChoice

__all__ = ["AppState", "IconKind", "LimitWindow", "ProxyPhase", "ProxyStatus", "Spend", "Subscription"]

ProxyPhase = Literal["starting", "running", "degraded", "restarting", "stopped", "error"]
"""starting: being started, or attached and not answering yet; running: answers health checks; degraded: running
but missed the last health checks; restarting: down, a restart is scheduled; stopped: not running, none wanted
(the user stopped it, or no autostart); error: not running and the supervisor gave up (see `reason`)."""

IconKind = Literal["running", "warning", "stopped"]


@dataclass(frozen=True)
class ProxyStatus:
    """The proxy as the supervisor last saw it."""

    phase: ProxyPhase = "stopped"
    url: str | None = None
    pid: int | None = None
    started_by_tray: bool = False
    reason: str | None = None  # why it is in error, restarting or degraded
    attempt: int = 0  # restart attempts in the current failure window

    @property
    def address(self) -> str | None:
        """`127.0.0.1:4000` from `http://127.0.0.1:4000`."""
        if self.url is None:
            return None
        return self.url.split("://", 1)[-1].rstrip("/")


@dataclass(frozen=True)
class Spend:
    """Known spend of the current local day and month, and every budget in its current period."""

    today_usd: float
    month_usd: float
    budgets: tuple[BudgetStatus, ...] = ()


@dataclass(frozen=True)
class LimitWindow:
    """One window of a Claude subscription's limits (`5h`, `7d`...), as the provider last reported it."""

    name: str
    used: float | None = None  # 0..1, above 1 when over
    resets_at: int | None = None  # unix seconds
    status: str | None = None  # allowed, allowed_warning, rejected...


@dataclass(frozen=True)
class Subscription:
    """The latest limits of the most recently seen account (`run/subscription.json`, see proxy/subscription)."""

    windows: tuple[LimitWindow, ...] = ()
    status: str | None = None
    resets_at: int | None = None
    as_of: float = 0.0  # unix seconds when it was read: the menu says "reset since" for a reset before it

    @classmethod
    def from_report(cls, report: dict[str, Any], as_of: float) -> Subscription:
        """From `proxy.subscription.latest_report`: the 5-hour window first, then the weekly ones."""
        windows = [
            LimitWindow(
                str(name),
                _number(values.get("used")),
                _whole(values.get("resets_at")),
                values.get("status") if isinstance(values.get("status"), str) else None,
            )
            for name, values in (report.get("windows") or {}).items()
            if isinstance(values, dict)
        ]
        windows.sort(key=lambda w: (not w.name.endswith("h"), "_" in w.name, w.name))
        status = report.get("status")
        return cls(
            tuple(windows),
            status if isinstance(status, str) else None,
            _whole(report.get("resets_at")),
            as_of,
        )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


@dataclass(frozen=True)
class AppState:
    """Everything the menu, the icon and the tooltip show."""

    proxy: ProxyStatus = ProxyStatus()
    spend: Spend | None = None  # None: the ledger could not be read (yet)
    models: tuple[str, ...] = ()  # config.yaml's model_names a user can switch to
    model_choice: ModelChoice | None = None  # None: automatic routing (rules)
    shell_integration: bool = False
    launch_at_login: bool = False
    scoped_budgets: frozenset[str] = frozenset()  # budgets limited to one model, user or project
    response_cache: bool = False  # `ccproxy.cache.enabled`: the menu offers "Clear response cache"
    provider_problem: str | None = None  # why requests are failing at the provider (health degraded), or None
    subscription: Subscription | None = None  # a Claude subscription's limits, once a response reported them
    project_spend: tuple[tuple[str, float], ...] = ()  # this month's spend per project, dearest first
    # (rule, the model_name it is routed to; None: its own entry)
    routes: tuple[tuple[str, str | None], ...] = ()
    providers: tuple[str, ...] = ()  # providers `ccproxy provider add` put in config.yaml
    # (provider, the models it lists that config.yaml doesn't have yet): model discovery, for the pickers
    offered: tuple[tuple[str, tuple[str, ...]], ...] = ()
    claude_statusline: bool = False  # ccproxy's status line is in Claude Code's settings.json

    @property
    def warning(self) -> bool:
        """A budget is past its first alert, the proxy is degraded or being restarted, or requests are failing
        at the provider."""
        if self.proxy.phase in ("degraded", "restarting") or self.provider_problem is not None:
            return True
        return self.spend is not None and any(b.alerts_sent for b in self.spend.budgets)

    @property
    def icon_kind(self) -> IconKind:
        if self.proxy.phase in ("stopped", "error", "starting"):
            return "stopped"
        return "warning" if self.warning else "running"

    def budget_ring(self, steps: int = 24) -> float | None:
        """Today's use of the daily budget, rounded to 1/`steps` (so the icon is redrawn rarely), or None."""
        budget = self.day_budget()
        if budget is None:
            return None
        fraction = max(0.0, min(1.0, budget.spent_usd / budget.limit_usd))
        return round(fraction * steps) / steps

    def day_budget(self) -> BudgetStatus | None:
        """The budget of the "Today" line and the icon's ring: the first daily budget not scoped to a model/user."""
        if self.spend is None:
            return None
        return next(
            (b for b in self.spend.budgets if b.period == "day" and b.name not in self.scoped_budgets), None
        )

    def month_budget(self) -> BudgetStatus | None:
        if self.spend is None:
            return None
        return next(
            (b for b in self.spend.budgets if b.period == "month" and b.name not in self.scoped_budgets),
            None,
        )
