"""The tray menu as data: `build_menu(state, actions)` is a pure function of the app state; `to_pystray` turns it
into a pystray menu whose items run `dispatch(action, argument)`.

Layout (informational lines are disabled items, so the first item a keyboard reaches is always the Model menu):

    Running on 127.0.0.1:4000
    Today $1.23 of $10.00 · Month $20.10
    5-hour window: 62%, resets 14:00      (a Claude subscription's limits, once a response reported them)
    7-day window: 20%, resets Mon 09:00
    ───
    Model: Auto (rules)  ▸  (•) Auto (rules)  ( ) default  ( ) background ...  More from ollama ▸ ...
    Route to  ▸  background: its own model  ▸  ( ) default  ( ) deepseek/deepseek-chat ...  More from ollama ▸
    Providers  ▸  deepseek ▸ Test / Remove…   Add ▸ OpenRouter… / Ollama ...   (`ccproxy provider`)
    Spend by project  ▸  api: $12.40  web: $3.10 ...   (this month; when requests carry a project)
    ───
    Start proxy / Stop proxy / Restart proxy
    ───
    [x] Shell integration
    [x] Launch at login
    [x] Claude Code status line
    ───
    Open config folder / Open log / Dashboard / Clear response cache (when the cache is on)
    ───
    Quit
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from ..ledger.budgets import BudgetStatus
from ..providers.presets import PRESETS
from ..proxy.subscription import window_label
from .state import AppState, LimitWindow, ProxyStatus, Subscription

__all__ = [
    "ALL_ACTIONS",
    "SEPARATOR",
    "Action",
    "Dispatch",
    "MenuEntry",
    "build_menu",
    "find_entry",
    "spend_lines",
    "status_line",
    "subscription_lines",
    "to_pystray",
]

MAX_REASON_CHARS = 70


class Action(StrEnum):
    """What a menu item (or a notification button) asks the app to do."""

    SWITCH_MODEL = "switch-model"  # argument: a model_name (one a provider offers is added first), or None
    TEST_PROVIDER = "test-provider"  # argument: a provider name: `ccproxy provider test NAME`
    ADD_PROVIDER = (
        "add-provider"  # argument: a preset name: `ccproxy provider add NAME` (a key: in a terminal)
    )
    REMOVE_PROVIDER = "remove-provider"  # argument: a provider name: asks first (a notification's button)
    REMOVE_PROVIDER_NOW = "remove-provider-now"  # argument: a provider name: `ccproxy provider remove NAME`
    ROUTE = "route"  # argument: "RULE\tMODEL": `ccproxy route RULE MODEL` (config.yaml edited in place)
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    TOGGLE_SHELL = "toggle-shell"
    TOGGLE_AUTOSTART = "toggle-autostart"
    TOGGLE_STATUSLINE = "toggle-statusline"  # argument "wrap": wrap the user's own statusLine
    OPEN_CONFIG = "open-config"
    OPEN_LOG = "open-log"
    DASHBOARD = "dashboard"  # `ccproxy dashboard`; the usage report when it can't open
    USAGE_REPORT = "usage-report"  # the month's chart as a PNG: the Dashboard item's fallback
    CLEAR_CACHE = "clear-cache"  # the response cache, every model
    QUIT = "quit"


ALL_ACTIONS: frozenset[Action] = frozenset(Action)

Dispatch = Callable[[Action, str | None], None]


@dataclass(frozen=True)
class MenuEntry:
    """One menu line. `checked` None: not a check item; `radio` draws a checked item as a radio button."""

    label: str = ""
    action: Action | None = None
    argument: str | None = None
    checked: bool | None = None
    enabled: bool = True
    radio: bool = False
    submenu: tuple[MenuEntry, ...] = ()
    separator: bool = False


SEPARATOR = MenuEntry(separator=True)


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def status_line(proxy: ProxyStatus) -> str:
    address = proxy.address or "?"
    if proxy.phase == "running":
        return f"Running on {address}"
    if proxy.phase == "degraded":
        return f"Running on {address} (not answering)"
    if proxy.phase == "starting":
        return "Restarting…" if proxy.attempt else "Starting…"
    if proxy.phase == "restarting":
        return f"Down, restarting (attempt {proxy.attempt + 1})…"
    if proxy.phase == "error":
        reason = (proxy.reason or "unknown").strip().splitlines()[0] if proxy.reason else "unknown"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        return f"Error: {reason}"
    return "Stopped"


def provider_line(problem: str) -> str:
    """The menu line when requests are failing at the provider: `problem` shortened to fit."""
    line = f"Requests failing: {problem}"
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


def _budget_line(budget: BudgetStatus) -> str:
    line = f"{budget.name}: {_money(budget.spent_usd)} of {_money(budget.limit_usd)} ({budget.percent:.0f}%)"
    if budget.blocking and budget.spent_usd >= budget.limit_usd:
        line += ", blocking"
    return line


def spend_lines(state: AppState) -> list[str]:
    """ "Today $1.23 of $10.00 · Month $20.10", then one line per budget the first line does not show."""
    if state.spend is None:
        return ["Spend: unavailable"]
    day, month = state.day_budget(), state.month_budget()
    today = f"Today {_money(state.spend.today_usd)}"
    if day is not None:
        today += f" of {_money(day.limit_usd)}"
    this_month = f"Month {_money(state.spend.month_usd)}"
    if month is not None:
        this_month += f" of {_money(month.limit_usd)}"
    shown = {b.name for b in (day, month) if b is not None}
    return [f"{today} · {this_month}"] + [_budget_line(b) for b in state.spend.budgets if b.name not in shown]


def _reset_time(resets_at: int, as_of: float) -> str:
    local = time.localtime(resets_at)
    if local[:3] == time.localtime(as_of)[:3]:
        return time.strftime("%H:%M", local)
    return time.strftime("%a %H:%M" if resets_at - as_of < 6 * 86400 else "%d %b %H:%M", local)


def _window_line(window: LimitWindow, as_of: float) -> str:
    """ "5-hour window: 62%, resets 14:00"; "... limit reached, resets 14:00" when requests are refused."""
    parts = []
    if window.status == "rejected":
        parts.append("limit reached")
    elif window.used is not None:
        parts.append(f"{window.used:.0%}")
    if window.resets_at is not None:
        parts.append(
            "reset since" if window.resets_at <= as_of else "resets " + _reset_time(window.resets_at, as_of)
        )
    return f"{window_label(window.name)}: " + (", ".join(parts) or "no figures")


def subscription_lines(subscription: Subscription | None) -> list[str]:
    """One line per window of the subscription's limits (none before a response reported them)."""
    if subscription is None:
        return []
    lines = [_window_line(w, subscription.as_of) for w in subscription.windows]
    if subscription.status == "rejected" and not any(w.status == "rejected" for w in subscription.windows):
        reset = subscription.resets_at
        lines.append(
            "Subscription limit reached"
            + (
                f", resets {_reset_time(reset, subscription.as_of)}"
                if reset and reset > subscription.as_of
                else ""
            )
        )
    return lines


def _project_menu(state: AppState) -> MenuEntry | None:
    if not state.project_spend:
        return None
    items = tuple(MenuEntry(f"{name}: {_money(usd)}", enabled=False) for name, usd in state.project_spend)
    return MenuEntry("Spend by project (month)", submenu=items)


def _model_menu(state: AppState) -> MenuEntry:
    choice = state.model_choice
    current = "Auto (rules)" if choice is None else choice.model
    if choice is not None and choice.force_all:
        current += " (all requests)"
    items = [MenuEntry("Auto (rules)", Action.SWITCH_MODEL, None, checked=choice is None, radio=True)]
    items += [
        MenuEntry(
            name,
            Action.SWITCH_MODEL,
            name,
            checked=choice is not None and choice.model == name,
            radio=True,
        )
        for name in state.models
    ]
    items += _offered_menus(state, lambda model: (Action.SWITCH_MODEL, model))
    if choice is not None and choice.model not in state.models:
        # The switch names a model config.yaml no longer has: the proxy ignores it, the menu says so.
        items.append(
            MenuEntry(f"{choice.model} (not in config.yaml)", checked=True, radio=True, enabled=False)
        )
    return MenuEntry(f"Model: {current}", submenu=tuple(items))


ROUTE_SEPARATOR = "\t"


def _route_menu(state: AppState) -> MenuEntry | None:
    """ "Route to" ▸ one submenu per rule: the model_names it can be sent to, the current one checked."""
    if not state.routes or not state.models:
        return None
    rules = []
    for rule, target in state.routes:
        prefix = f"{rule}{ROUTE_SEPARATOR}"
        options = [
            MenuEntry(name, Action.ROUTE, prefix + name, checked=name == target, radio=True)
            for name in state.models
            if name != rule
        ]
        if options:
            options += _offered_menus(state, partial(_route_choice, prefix))
            rules.append(MenuEntry(f"{rule}: {target or 'its own model'}", submenu=tuple(options)))
    return MenuEntry("Route to", submenu=tuple(rules)) if rules else None


MAX_OFFERED = 25
"""Models of one provider a picker lists (OpenRouter lists hundreds): the rest are `ccproxy provider models`'."""


def _offered_menus(state: AppState, choose: Callable[[str], tuple[Action, str]]) -> list[MenuEntry]:
    """ "More from NAME" ▸ the models provider NAME lists that config.yaml doesn't have yet (model discovery);
    choosing one adds it (`ccproxy provider add NAME --model M`) and then does what `choose` says."""
    menus = []
    for provider, names in state.offered:
        items = [MenuEntry(name, *choose(f"{provider}/{name}")) for name in names[:MAX_OFFERED]]
        if len(names) > MAX_OFFERED:
            hint = f"{len(names) - MAX_OFFERED} more: ccproxy provider models {provider}"
            items.append(MenuEntry(hint, enabled=False))
        if items:
            menus.append(MenuEntry(f"More from {provider}", submenu=tuple(items)))
    if menus:
        menus.insert(0, SEPARATOR)
    return menus


def _route_choice(prefix: str, model: str) -> tuple[Action, str]:
    return Action.ROUTE, prefix + model


def _provider_menu(state: AppState) -> MenuEntry:
    """ "Providers" ▸ each added provider (Test: `ccproxy provider test`; Remove…: asks, then `provider
    remove`), and "Add" ▸ the presets not added yet. A preset that needs a key ends in "…": its key is typed
    in a terminal window (`provider add`'s hidden prompt), never in the tray."""
    items = [
        MenuEntry(
            name,
            submenu=(
                MenuEntry("Test", Action.TEST_PROVIDER, name),
                MenuEntry("Remove…", Action.REMOVE_PROVIDER, name),
            ),
        )
        for name in state.providers
    ]
    addable = tuple(
        MenuEntry(f"{p.title}…" if p.needs_key else p.title, Action.ADD_PROVIDER, p.name)
        for p in PRESETS
        if p.name not in state.providers
    )
    if addable:
        items.append(MenuEntry("Add", submenu=addable))
    return MenuEntry("Providers", submenu=tuple(items))


def _proxy_controls(proxy: ProxyStatus) -> list[MenuEntry]:
    phase = proxy.phase
    return [
        MenuEntry("Start proxy", Action.START, enabled=phase in ("stopped", "error", "restarting")),
        MenuEntry(
            "Stop proxy", Action.STOP, enabled=phase in ("running", "degraded", "starting", "restarting")
        ),
        MenuEntry("Restart proxy", Action.RESTART, enabled=phase in ("running", "degraded")),
    ]


def build_menu(state: AppState, actions: Collection[Action] = ALL_ACTIONS) -> tuple[MenuEntry, ...]:
    """The menu for `state`. `actions` are those this app can perform here (e.g. no shell integration for an
    unsupported shell): entries for other actions are left out."""
    entries: list[MenuEntry] = [MenuEntry(status_line(state.proxy), enabled=False)]
    if state.provider_problem is not None and state.proxy.phase in ("running", "degraded"):
        entries.append(MenuEntry(provider_line(state.provider_problem), enabled=False))
    entries += [MenuEntry(line, enabled=False) for line in spend_lines(state)]
    entries += [MenuEntry(line, enabled=False) for line in subscription_lines(state.subscription)]
    entries.append(SEPARATOR)
    if Action.SWITCH_MODEL in actions:
        entries.append(_model_menu(state))
    routes = _route_menu(state) if Action.ROUTE in actions else None
    if routes is not None:
        entries.append(routes)
    if Action.TEST_PROVIDER in actions:
        entries.append(_provider_menu(state))
    projects = _project_menu(state)
    if projects is not None:
        entries.append(projects)
    entries.append(SEPARATOR)
    entries += [e for e in _proxy_controls(state.proxy) if e.action in actions]
    entries.append(SEPARATOR)
    if Action.TOGGLE_SHELL in actions:
        entries.append(MenuEntry("Shell integration", Action.TOGGLE_SHELL, checked=state.shell_integration))
    if Action.TOGGLE_AUTOSTART in actions:
        entries.append(MenuEntry("Launch at login", Action.TOGGLE_AUTOSTART, checked=state.launch_at_login))
    if Action.TOGGLE_STATUSLINE in actions:
        entries.append(
            MenuEntry("Claude Code status line", Action.TOGGLE_STATUSLINE, checked=state.claude_statusline)
        )
    entries.append(SEPARATOR)
    for label, action in (
        ("Open config folder", Action.OPEN_CONFIG),
        ("Open log", Action.OPEN_LOG),
        ("Dashboard", Action.DASHBOARD),
    ):
        if action in actions:
            entries.append(MenuEntry(label, action))
    if Action.CLEAR_CACHE in actions and state.response_cache:
        entries.append(MenuEntry("Clear response cache", Action.CLEAR_CACHE))
    entries += [SEPARATOR, MenuEntry("Quit", Action.QUIT)]
    return _tidy(entries)


def _tidy(entries: list[MenuEntry]) -> tuple[MenuEntry, ...]:
    """No separator at either end or next to another (left when a group is empty)."""
    tidy: list[MenuEntry] = []
    for entry in entries:
        if entry.separator and (not tidy or tidy[-1].separator):
            continue
        tidy.append(entry)
    while tidy and tidy[-1].separator:
        tidy.pop()
    return tuple(tidy)


def _walk(entries: tuple[MenuEntry, ...]) -> Iterator[MenuEntry]:
    for entry in entries:
        yield entry
        yield from _walk(entry.submenu)


def find_entry(
    entries: tuple[MenuEntry, ...], action: Action, argument: str | None = None
) -> MenuEntry | None:
    """The entry (submenus included) that runs `action` with `argument`."""
    return next((e for e in _walk(entries) if e.action == action and e.argument == argument), None)


# -- pystray adapter ------------------------------------------------------------------------------------------


def to_pystray(current: Callable[[], tuple[MenuEntry, ...]], dispatch: Dispatch) -> Any:
    """A `pystray.Menu` showing `current()` (the entries of the app's current state).

    The menu is dynamic: pystray asks for its items each time the backend builds it (at `icon.update_menu()`),
    so structure (models, budget lines) follows the state; an item's `checked` and `enabled` are callables that
    read the current entry with the same action, so an item object a backend keeps shows current values too.
    Clicking an item dispatches the action the item showed. pystray must be importable (backend chosen).
    """
    import pystray

    def state_of(entry: MenuEntry, attribute: str) -> Callable[[Any], Any]:
        def read(_item: Any) -> Any:
            found = find_entry(current(), entry.action, entry.argument) if entry.action else None
            return getattr(found or entry, attribute)

        return read

    def activate(entry: MenuEntry) -> Callable[[Any, Any], None]:
        def run(_icon: Any, _item: Any) -> None:
            if entry.action is not None:
                dispatch(entry.action, entry.argument)

        return run

    def item(entry: MenuEntry) -> Any:
        if entry.separator:
            return pystray.Menu.SEPARATOR
        if entry.submenu:
            return pystray.MenuItem(entry.label, menu(lambda: entry.submenu), enabled=entry.enabled)
        return pystray.MenuItem(
            entry.label,
            activate(entry),
            checked=state_of(entry, "checked") if entry.checked is not None else None,
            radio=entry.radio,
            enabled=state_of(entry, "enabled"),
        )

    def menu(entries: Callable[[], tuple[MenuEntry, ...]]) -> Any:
        return pystray.Menu(lambda: tuple(item(e) for e in entries()))

    return menu(current)
