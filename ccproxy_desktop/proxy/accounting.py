"""Costs, budgets and alerts inside the proxy process: the ledger adapter and the pure budget tracker, joined.

- `record()` prices a finished request and queues it for the ledger (never blocks the event loop);
- `over_budget()` is the per-request check of blocking budgets (in-memory, microseconds);
- after each committed batch (writer thread) budgets are updated and each threshold newly crossed is
  claimed in the ledger, so it fires exactly once per period across workers and restarts; a claimed alert
  becomes an event for the desktop app and is passed to the configured alert callbacks;
- every `RESYNC_SECONDS` a thread re-reads each budget's spend, and each limited user's tokens and cost, from
  the ledger, so worker processes agree.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config.loader import Settings
from ..config.schema import ModelEntry
from ..ledger.budgets import AlertDue, BudgetStatus, BudgetTracker, period_window
from ..ledger.pricing import FREE, Price, PriceBook, cost, price_from_litellm_map
from ..ledger.queries import UsageRow
from ..ledger.records import RequestRecord, TokenUsage
from ..ledger.store import Ledger
from ..pipeline.pipeline import resolve_import
from ..providers.presets import Preset, preset
from ..users.limits import UserUsage, counted_tokens

__all__ = ["Accounting", "config_prices", "litellm_price_lookup", "load_callbacks", "price_book"]

log = logging.getLogger(__name__)

RESYNC_SECONDS = 2.0
EARLIER_DAYS_SECONDS = 60.0
AlertCallback = Callable[[AlertDue], object]


_BUNDLED_PRICE_MAP = "model_prices_and_context_window_backup.json"
_price_map: dict[str, Any] | None = None
_price_map_lock = threading.Lock()


def bundled_price_map() -> dict[str, Any]:
    """LiteLLM's bundled price map, read from the installed package's JSON file without importing LiteLLM
    (which costs seconds and ~190 MB); loaded once per process. Empty when LiteLLM is not installed."""
    global _price_map
    with _price_map_lock:
        if _price_map is None:
            spec = importlib.util.find_spec("litellm")
            loaded: dict[str, Any] = {}
            for location in (spec.submodule_search_locations or []) if spec else []:
                try:
                    loaded = json.loads((Path(location) / _BUNDLED_PRICE_MAP).read_text(encoding="utf-8"))
                    break
                except (OSError, ValueError):
                    continue
            _price_map = loaded
        return _price_map


def litellm_price_lookup(model: str) -> Any:
    """The price of `model` in LiteLLM's bundled price map (the file LITELLM_LOCAL_MODEL_COST_MAP loads)."""
    return price_from_litellm_map(bundled_price_map(), model)


COST_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
)
"""LiteLLM's custom-pricing fields (USD per token), read from an entry's model_info or litellm_params."""
LOCAL_PREFIXES = ("ollama", "ollama_chat", "lm_studio")
"""`litellm_params.model` prefixes of local servers: their requests cost $0."""


def _preset_of(entry: ModelEntry) -> Preset | None:
    name = entry.model_info.get("ccproxy_provider")  # written by `ccproxy provider add`
    if not isinstance(name, str):
        return None
    try:
        return preset(name)
    except KeyError:
        return None


def _own_price(entry: ModelEntry, found: Preset | None) -> Price | None:
    """The entry's price in config.yaml (LiteLLM's `input_cost_per_token`... in model_info, else in
    litellm_params), or $0 for a local server; None: config.yaml doesn't say."""
    own = {k: v for k, v in entry.litellm_params.items() if k in COST_FIELDS}
    own.update({k: v for k, v in entry.model_info.items() if k in COST_FIELDS})
    model = entry.target or entry.model_name
    price = price_from_litellm_map({model: own}, model) if own else None
    if price is not None:
        return price
    local = found.credential == "none" if found is not None else model.split("/", 1)[0] in LOCAL_PREFIXES
    return FREE if local else None


def _price_keys(entry: ModelEntry, found: Preset | None) -> tuple[str, ...]:
    """Names of a `provider add` model in LiteLLM's price map: the preset's `cost_key` for it, else
    `<price_prefix>/<model>` (Moonshot's `kimi-k2.5` is `moonshot/kimi-k2.5` there)."""
    if found is None:
        return ()
    model = entry.target.removeprefix(f"{found.litellm_prefix}/")
    listed = found.model(model).cost_key
    keys = [listed] if listed else []
    if found.price_prefix and f"{found.price_prefix}/{model}" not in keys:
        keys.append(f"{found.price_prefix}/{model}")
    return tuple(keys)


def config_prices(settings: Settings) -> tuple[dict[str, Price], dict[str, tuple[str, ...]]]:
    """What config.yaml says of each model_name's price: its own price (`_own_price`) and its names in the
    price map (`_price_keys`). An alias (`ccproxy route`) gets what its target gets."""
    configured: dict[str, Price] = {}
    keys: dict[str, tuple[str, ...]] = {}
    entries = settings.litellm.model_list
    names = {entry.model_name for entry in entries}
    aliases = [e for e in entries if e.is_alias and e.target in names and e.target != e.model_name]
    alias_names = {e.model_name for e in aliases}
    for entry in entries:
        if "*" in entry.model_name or entry.model_name in configured or entry.model_name in alias_names:
            continue  # a group of deployments is priced by its first one
        found = _preset_of(entry)
        price = _own_price(entry, found)
        if price is not None:
            configured[entry.model_name] = price
        elif map_keys := _price_keys(entry, found):
            keys.setdefault(entry.model_name, map_keys)
    for entry in aliases:
        if entry.target in configured:
            configured.setdefault(entry.model_name, configured[entry.target])
        elif entry.target in keys:
            keys.setdefault(entry.model_name, keys[entry.target])
    return configured, keys


def price_book(settings: Settings) -> PriceBook:
    """The proxy's prices: ccproxy.yaml's `pricing:`, config.yaml's own, then LiteLLM's bundled price map."""
    configured, keys = config_prices(settings)
    return PriceBook(settings.ccproxy.pricing, litellm_price_lookup, configured, keys)


def load_callbacks(paths: Sequence[str]) -> list[AlertCallback]:
    """Import each `module.function` / `module:function`. Raises ImportError naming the path."""
    callbacks = []
    for path in paths:
        function = resolve_import(path, {})
        if not callable(function):
            raise ImportError(f"{path} is not a callable")
        callbacks.append(function)
    return callbacks


def user_totals(rows: Sequence[UsageRow]) -> dict[str, tuple[int, float]]:
    """(counted tokens, usd) per user from the ledger's usage rows grouped by user."""
    return {
        row.key: (
            counted_tokens(
                TokenUsage(row.input_tokens, row.output_tokens, cache_write_5m=row.cache_write_tokens)
            ),
            row.cost_usd,
        )
        for row in rows
        if row.key is not None
    }


class Accounting:
    """Owns the ledger and the budget tracker of one proxy process."""

    def __init__(
        self,
        settings: Settings,
        prices: PriceBook,
        now: Callable[[], datetime],
        callbacks: Sequence[AlertCallback] = (),
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self.prices = prices
        self.now = now
        self.callbacks = list(callbacks)
        self.tracker = BudgetTracker(settings.ccproxy.budgets, now)
        self.users = UserUsage(settings.ccproxy.users, now)
        self._earlier_days: tuple[str, float, dict[str, tuple[int, float]]] = ("", 0.0, {})
        self.ledger = ledger or Ledger(settings.paths.ledger_db, on_commit=self._on_commit)
        self._stop = threading.Event()
        self._failed_callbacks: set[str] = set()
        self.resync()
        self._thread: threading.Thread | None = None
        if settings.ccproxy.budgets or self.users.tracks:
            self._thread = threading.Thread(target=self._resync_loop, name="budget-resync", daemon=True)
            self._thread.start()

    def reconfigure(self, settings: Settings, prices: PriceBook, callbacks: Sequence[AlertCallback]) -> None:
        """Apply new budgets, prices and callbacks (a config reload). Budget state comes back from the ledger."""
        tracker = BudgetTracker(settings.ccproxy.budgets, self.now)
        self.settings, self.prices, self.callbacks = settings, prices, list(callbacks)
        self.tracker = tracker
        self.users = UserUsage(settings.ccproxy.users, self.now)
        self._earlier_days = ("", 0.0, {})
        self.resync()
        if (settings.ccproxy.budgets or self.users.tracks) and self._thread is None:
            self._thread = threading.Thread(target=self._resync_loop, name="budget-resync", daemon=True)
            self._thread.start()

    # -- per request -----------------------------------------------------------------------------------

    def price(self, routed_model: str, provider_model: str, usage: TokenUsage) -> float | None:
        price = self.prices.price_for(routed_model, provider_model)
        return None if price is None else cost(usage, price)

    def record(self, record: RequestRecord) -> None:
        self.ledger.record(record)

    def over_budget(self, model: str, user: str | None, project: str | None = None) -> BudgetStatus | None:
        return self.tracker.blocking(model, user, project)

    # -- writer thread ---------------------------------------------------------------------------------

    def _on_commit(self, records: list[RequestRecord]) -> None:
        for record in records:
            self.users.add(record)
            for alert in self.tracker.add(record):
                self._fire(alert)

    def _fire(self, alert: AlertDue) -> None:
        payload: dict[str, object] = {
            key: (value.isoformat() if isinstance(value, datetime) else value)
            for key, value in asdict(alert).items()
        }
        payload["message"] = alert.message()
        if not self.ledger.claim_alert(alert.budget, alert.period_key, alert.fraction, payload):
            return  # another worker (or an earlier run) sent it
        log.warning("budget alert: %s", payload["message"], extra={"budget": alert.budget})
        for callback in self.callbacks:
            try:
                callback(alert)
            except Exception as exc:  # a user's callback must not stop the ledger writer
                name = getattr(callback, "__qualname__", repr(callback))
                if name not in self._failed_callbacks:
                    self._failed_callbacks.add(name)
                    log.warning("alert callback %s failed: %s", name, exc)

    # -- re-sync from the ledger -----------------------------------------------------------------------

    def resync(self) -> None:
        """Replace the tracker's spend and alerts-sent with the ledger's (all processes' requests)."""
        now = self.now()
        spent: dict[str, float] = {}
        sent: dict[str, list[float]] = {}
        for budget in self.settings.ccproxy.budgets:
            window = period_window(budget.period, now)
            until = window.end.timestamp() if window.end else None
            spent[budget.name] = self.ledger.spend(
                window.start.timestamp(), until, model=budget.model, user=budget.user, project=budget.project
            )
            sent[budget.name] = self.ledger.alerts_sent(budget.name, window.key)
        self.tracker.seed(spent, sent)
        if self.users.tracks:
            self._resync_users()

    def _resync_users(self) -> None:
        """Each limited user's tokens and cost today and this month from the ledger. The month is the days
        before today, re-read at most every `EARLIER_DAYS_SECONDS` (rows rarely land in a past day), plus
        today: a month's rows cost 20x a day's to sum."""
        windows = self.users.windows()
        day, month = windows["day"], windows["month"]
        start, until = day.start.timestamp(), day.end.timestamp() if day.end else None
        today = user_totals(self.ledger.usage(start, until, group_by="user").groups)
        self.users.seed("day", day.key, today)
        key, read_at, earlier = self._earlier_days
        if key != day.key or time.monotonic() - read_at > EARLIER_DAYS_SECONDS:
            groups = self.ledger.usage(month.start.timestamp(), start, group_by="user").groups
            earlier = user_totals(groups) if month.start < day.start else {}
            self._earlier_days = (day.key, time.monotonic(), earlier)
        totals = dict(earlier)
        for user, (tokens, usd) in today.items():
            tokens_before, usd_before = totals.get(user, (0, 0.0))
            totals[user] = (tokens_before + tokens, usd_before + usd)
        self.users.seed("month", month.key, totals)

    def _resync_loop(self) -> None:
        while not self._stop.wait(RESYNC_SECONDS):
            try:
                self.resync()
            except Exception as exc:  # keep the last known state; the next round retries
                log.debug("budget re-sync failed: %s", exc)

    def close(self) -> None:
        self._stop.set()
        self.ledger.close()
