"""The `tray-ledger-poller` thread: every `interval` seconds, what the tray shows from files.

- the ledger (written by the proxy): new events since the last one seen (`advice_for_events`), spend today and
  this month, every budget's status, and the provider health of the latest requests (`ledger.health_state`).
  Queries run only when the ledger's files changed (or every `refresh` seconds, for the day's roll-over, the burn
  rate and a degraded health that ages out), so an idle tray does no SQL;
- the config files (models, budgets, prices): reloaded when their mtime changes; an invalid edit keeps the last
  good settings (the proxy reports the error as a `config_error` event);
- the Claude subscription's limits (`run/subscription.json`, written by the proxy): read when it changes; a
  window crossing 80% or 95%, or a request refused for the limit, becomes a notification (`SubscriptionWatch`);
- the quick model switch and the toggles (shell integration, launch at login), which the CLI may change too.
Events present when the tray starts are not announced again: polling starts after the newest one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..config.loader import ConfigInvalid, Settings, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..ledger.budgets import period_window
from ..ledger.schema import LedgerError
from ..ledger.store import Ledger
from ..proxy.budget_view import budget_statuses
from ..proxy.subscription import latest_report
from .advice import Advice, SubscriptionWatch, advice_for_events, advice_for_request_failures, cheaper_model
from .prices import ModelPrices
from .state import Spend, Subscription

__all__ = ["LedgerPoller", "added_providers", "rule_routes", "switchable_models"]

log = logging.getLogger(__name__)

Stamp = tuple[tuple[int, int] | None, ...]


def switchable_models(settings: Settings) -> tuple[str, ...]:
    """The model_names of config.yaml a user can switch to, wildcard patterns left out (as `ccproxy model list`)."""
    return tuple(name for name in settings.litellm.model_names() if "*" not in name)


def rule_routes(settings: Settings) -> tuple[tuple[str, str | None], ...]:
    """Each rule of ccproxy.yaml (and `default`) with the model_name `ccproxy route` sent it to: its config.yaml
    entry is an alias of that other entry. None when the rule's entry is a deployment of its own (or missing)."""
    entries = {entry.model_name: entry for entry in settings.litellm.model_list}
    routes: list[tuple[str, str | None]] = []
    for rule in ["default", *(spec.name for spec in settings.ccproxy.rules if spec.name != "default")]:
        entry = entries.get(rule)
        target = entry.target if entry is not None and entry.is_alias else None
        routes.append((rule, target if target in entries and target != rule else None))
    return tuple(routes)


def added_providers(settings: Settings) -> tuple[str, ...]:
    """The providers `ccproxy provider add` wrote entries for (marked in their model_info), in file order."""
    names = (entry.model_info.get("ccproxy_provider") for entry in settings.litellm.model_list)
    return tuple(dict.fromkeys(name for name in names if isinstance(name, str) and name))


def _stamp(*paths: os.PathLike[str]) -> Stamp:
    stamps: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


class LedgerPoller:
    def __init__(
        self,
        paths: ConfigPaths,
        ledger: Ledger,
        *,
        on_update: Callable[..., None],
        on_advice: Callable[[Advice], None],
        toggles: Callable[[], dict[str, Any]] = dict,
        now: Callable[[], datetime],
        clock: Callable[[], float] = time.monotonic,
        interval: float = 2.0,
        refresh: float = 60.0,
    ) -> None:
        """`on_update(**changes)` gets `AppState` fields; `on_advice` each notification to show; `toggles()`
        returns the toggles' current values as `AppState` fields."""
        self._paths = paths
        self._ledger = ledger
        self._on_update = on_update
        self._on_advice = on_advice
        self._toggles = toggles
        self._now = now
        self._clock = clock
        self.interval = interval
        self._refresh = refresh
        self._override = OverrideFile(paths.model_override_file)
        self._settings: Settings | None = None
        self._config_stamp: Stamp | None = None
        self._ledger_stamp: Stamp | None = None
        self._queried_at = -float("inf")
        self._last_event_id = 0
        self._ledger_file: tuple[int, int] | None = None  # (device, inode) of the file the event ids are from
        self._failing = False
        self._ledger_problem: str | None = None
        self._subscription_stamp: Stamp | None = None
        self._subscription_read_at = -float("inf")
        self._subscription_watch = SubscriptionWatch()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_lock = threading.Lock()  # the thread and an action's immediate poll take turns

    @property
    def settings(self) -> Settings | None:
        return self._settings

    def prime(self) -> None:
        """Skip the events already in the ledger: only those written from now on become notifications."""
        try:
            events = self._ledger.events(0)
        except LedgerError as exc:
            log.warning("ledger not readable yet: %s", exc)
            return
        self._last_event_id = events[-1].id if events else 0
        self._subscription_watch.prime(self._read_subscription())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tray-ledger-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the poller must outlive one bad poll; logged with its traceback
                log.exception("tray poll failed")
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """One round: config, switch and toggles, then the ledger if it changed."""
        with self._poll_lock:
            changes: dict[str, Any] = {}
            self._reload_config(changes)
            changes["model_choice"] = self._override.read()
            changes.update(self._toggles())
            self._read_ledger(changes)
            self._watch_subscription(changes)
            self._on_update(**changes)

    def _read_subscription(self) -> Subscription | None:
        report = latest_report(self._paths.subscription_file)
        return Subscription.from_report(report, self._now().timestamp()) if report else None

    def _watch_subscription(self, changes: dict[str, Any]) -> None:
        stamp = _stamp(self._paths.subscription_file)
        if stamp == self._subscription_stamp and self._queried_at == self._subscription_read_at:
            return  # re-read with each ledger query too: "reset since" follows the clock
        self._subscription_stamp, self._subscription_read_at = stamp, self._queried_at
        subscription = self._read_subscription()
        changes["subscription"] = subscription
        for advice in self._subscription_watch.check(subscription):
            self._on_advice(advice)

    def _reload_config(self, changes: dict[str, Any]) -> None:
        stamp = _stamp(self._paths.ccproxy_yaml, self._paths.litellm_yaml)
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            settings = load_settings(self._paths)
        except ConfigInvalid as exc:
            log.warning("config invalid, the tray keeps the last good one: %s", exc)
            return
        self._settings = settings
        self._ledger_stamp = None  # budgets may have changed: query again
        changes["models"] = switchable_models(settings)
        changes["routes"] = rule_routes(settings)
        changes["providers"] = added_providers(settings)
        changes["scoped_budgets"] = frozenset(
            b.name
            for b in settings.ccproxy.budgets
            if b.model is not None or b.user is not None or b.project is not None
        )
        changes["response_cache"] = settings.ccproxy.cache.enabled

    def _read_ledger(self, changes: dict[str, Any]) -> None:
        stamp = _stamp(
            self._paths.ledger_db, self._paths.ledger_db.with_name(self._paths.ledger_db.name + "-wal")
        )
        due = self._clock() - self._queried_at >= self._refresh
        if stamp == self._ledger_stamp and not due:
            return
        self._follow_ledger_file()
        try:
            events = self._ledger.events(self._last_event_id)
            spend = self._spend()
            health = self._ledger.provider_health()
            projects = self._project_spend()
        except LedgerError as exc:
            if str(exc) != self._ledger_problem:
                self._ledger_problem = str(exc)
                log.warning("ledger not readable: %s", exc)
            changes["spend"] = None
            return
        self._ledger_problem = None
        self._ledger_stamp = stamp
        self._queried_at = self._clock()
        changes["spend"] = spend
        changes["project_spend"] = projects
        if events:
            self._last_event_id = events[-1].id
            for advice in advice_for_events(events, self._cheaper):
                self._on_advice(advice)
        changes["provider_problem"] = health.reason
        failing = health.state == "degraded"
        if failing and not self._failing and health.reason is not None:
            self._on_advice(advice_for_request_failures(health.reason))
        self._failing = failing

    def _follow_ledger_file(self) -> None:
        """A new ledger file (the config folder was deleted and the proxy started another) numbers its events
        from 1 again: read them from the start, or they would stay unannounced until past the old file's last.
        The inode tells the files apart: the old one can't be reused while our ledger's reader holds it open,
        which it does until the query after this check."""
        try:
            info = os.stat(self._paths.ledger_db)
        except OSError:
            return
        current = (info.st_dev, info.st_ino)
        if self._ledger_file is not None and current != self._ledger_file:
            log.info("the ledger file was replaced; announcing its events from the first")
            self._last_event_id = 0
        self._ledger_file = current

    def _spend(self) -> Spend:
        moment = self._now()
        today = self._ledger.spend(period_window("day", moment).start.timestamp())
        month = self._ledger.spend(period_window("month", moment).start.timestamp())
        budgets = tuple(budget_statuses(self._settings, self._ledger, self._now)) if self._settings else ()
        return Spend(today, month, budgets)

    def _project_spend(self) -> tuple[tuple[str, float], ...]:
        """This month's known spend per project, dearest first (untagged requests as "(no project)"); empty
        while no request carries a project."""
        since = period_window("month", self._now()).start.timestamp()
        groups = self._ledger.usage(since, None, "project").groups
        named = [(g.key if g.key and g.key != "(none)" else None, g.cost_usd) for g in groups]
        if not any(key for key, _ in named):
            return ()
        ranked = sorted(named, key=lambda item: -item[1])
        return tuple((key or "(no project)", cost) for key, cost in ranked)

    def _cheaper(self) -> str | None:
        """The model a budget alert's button offers (see `cheaper_model`); reads prices only when asked."""
        if self._settings is None:
            return None
        models = switchable_models(self._settings)
        choice = self._override.read()
        current = choice.model if choice is not None else ("default" if "default" in models else None)
        return cheaper_model(models, current, ModelPrices(self._settings).price)
