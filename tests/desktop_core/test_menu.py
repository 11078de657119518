"""The tray menu built from app states, and its pystray adapter on the dummy backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccproxy_desktop.desktop.menu import (
    ALL_ACTIONS,
    MAX_OFFERED,
    Action,
    MenuEntry,
    build_menu,
    find_entry,
    spend_lines,
    status_line,
)
from ccproxy_desktop.desktop.state import AppState, ProxyStatus, Spend
from ccproxy_desktop.ledger.budgets import BudgetStatus
from ccproxy_desktop.pipeline.router import ModelChoice
from ccproxy_desktop.providers.presets import PRESETS

URL = "http://127.0.0.1:4000"
RUNNING = ProxyStatus("running", URL, 42, started_by_tray=True)


def budget(
    name: str, period: str, limit: float, spent: float, alerts: tuple[float, ...] = ()
) -> BudgetStatus:
    return BudgetStatus(
        name=name,
        period=period,  # type: ignore[arg-type]
        period_key="k",
        limit_usd=limit,
        spent_usd=spent,
        percent=round(spent / limit * 100, 1),
        alerts_sent=alerts,
        blocking=False,
        projected_usd=None,
        reach_limit_at=None,
    )


STATE = AppState(
    proxy=RUNNING,
    spend=Spend(1.23, 20.1, (budget("daily", "day", 10.0, 1.23), budget("monthly", "month", 100.0, 20.1))),
    models=("default", "background", "think"),
)


def labels(entries: tuple[MenuEntry, ...]) -> list[str]:
    return ["---" if e.separator else e.label for e in entries]


@pytest.mark.parametrize(
    ("proxy", "line"),
    [
        (RUNNING, "Running on 127.0.0.1:4000"),
        (
            ProxyStatus("degraded", URL, 42, reason="1 failed health check"),
            "Running on 127.0.0.1:4000 (not answering)",
        ),
        (ProxyStatus("starting"), "Starting…"),
        (ProxyStatus("starting", attempt=2), "Restarting…"),
        (
            ProxyStatus("restarting", reason="the proxy (pid 42) exited", attempt=1),
            "Down, restarting (attempt 2)…",
        ),
        (ProxyStatus("stopped"), "Stopped"),
        (
            ProxyStatus("error", reason="gave up after 5 failures: port 4000 is taken\nmore"),
            "Error: gave up after 5 failures: port 4000 is taken",
        ),
        (ProxyStatus("error", reason="x" * 200), "Error: " + "x" * 69 + "…"),
    ],
)
def test_status_line(proxy: ProxyStatus, line: str) -> None:
    assert status_line(proxy) == line
    assert build_menu(replace(STATE, proxy=proxy))[0] == MenuEntry(line, enabled=False)


@pytest.mark.parametrize(
    ("spend", "scoped", "lines"),
    [
        (STATE.spend, frozenset(), ["Today $1.23 of $10.00 · Month $20.10 of $100.00"]),
        (Spend(1.23, 20.1), frozenset(), ["Today $1.23 · Month $20.10"]),
        (None, frozenset(), ["Spend: unavailable"]),
        (
            Spend(2.5, 1234.5, (budget("daily", "day", 10.0, 2.5), budget("thinking", "week", 5.0, 4.0))),
            frozenset({"thinking"}),
            ["Today $2.50 of $10.00 · Month $1,234.50", "thinking: $4.00 of $5.00 (80%)"],
        ),
        (
            # A daily budget scoped to one model is not "today's" budget: it gets its own line.
            Spend(3.0, 3.0, (budget("opus-day", "day", 2.0, 3.0),)),
            frozenset({"opus-day"}),
            ["Today $3.00 · Month $3.00", "opus-day: $3.00 of $2.00 (150%)"],
        ),
    ],
)
def test_spend_lines(spend: Spend | None, scoped: frozenset[str], lines: list[str]) -> None:
    state = replace(STATE, spend=spend, scoped_budgets=scoped)
    assert spend_lines(state) == lines
    menu = build_menu(state)
    assert [e.label for e in menu[1 : 1 + len(lines)]] == lines
    assert not any(e.enabled for e in menu[1 : 1 + len(lines)])


def test_the_whole_menu_of_a_running_proxy() -> None:
    assert labels(build_menu(STATE)) == [
        "Running on 127.0.0.1:4000",
        "Today $1.23 of $10.00 · Month $20.10 of $100.00",
        "---",
        "Model: Auto (rules)",
        "Providers",
        "---",
        "Start proxy",
        "Stop proxy",
        "Restart proxy",
        "---",
        "Shell integration",
        "Launch at login",
        "Claude Code status line",
        "---",
        "Open config folder",
        "Open log",
        "Dashboard",
        "---",
        "Quit",
    ]


def test_provider_failures_show_under_the_status_line_and_warn() -> None:
    problem = "6 of the last 10 requests failed at the provider (ServiceUnavailableError x6)"
    failing = replace(STATE, provider_problem=problem)
    menu = labels(build_menu(failing))
    assert menu[:2] == [
        "Running on 127.0.0.1:4000",
        "Requests failing: 6 of the last 10 requests failed at the provider (S…",
    ]
    assert len(menu[1]) == 70 and not build_menu(failing)[1].enabled
    assert failing.warning and failing.icon_kind == "warning"
    stopped = replace(failing, proxy=ProxyStatus("stopped"))
    assert "Requests failing" not in " ".join(labels(build_menu(stopped)))  # stale news once it is down


def test_the_model_menu_is_the_first_item_a_keyboard_reaches() -> None:
    # The desktop test (and keyboard users) rely on it: informational lines are disabled, so skipped.
    for proxy in (RUNNING, ProxyStatus("stopped"), ProxyStatus("error", reason="x")):
        menu = build_menu(replace(STATE, proxy=proxy))
        first = next(e for e in menu if e.enabled and not e.separator)
        assert first.label.startswith("Model: ")


@pytest.mark.parametrize(
    ("choice", "title", "checked"),
    [
        (None, "Model: Auto (rules)", "Auto (rules)"),
        (ModelChoice("think"), "Model: think", "think"),
        (ModelChoice("background", force_all=True), "Model: background (all requests)", "background"),
    ],
)
def test_model_items_are_radio_items_with_the_current_choice_checked(
    choice: ModelChoice | None, title: str, checked: str
) -> None:
    menu = build_menu(replace(STATE, model_choice=choice))
    model_menu = next(e for e in menu if e.submenu)
    assert model_menu.label == title
    assert [e.label for e in model_menu.submenu] == ["Auto (rules)", "default", "background", "think"]
    assert all(e.radio and e.action is Action.SWITCH_MODEL for e in model_menu.submenu)
    assert [e.label for e in model_menu.submenu if e.checked] == [checked]
    assert [e.argument for e in model_menu.submenu] == [None, "default", "background", "think"]


def test_a_switch_to_a_model_config_yaml_no_longer_has_is_shown_but_not_selectable() -> None:
    menu = build_menu(replace(STATE, model_choice=ModelChoice("gone")))
    last = next(e for e in menu if e.submenu).submenu[-1]
    assert last == MenuEntry("gone (not in config.yaml)", checked=True, radio=True, enabled=False)


@pytest.mark.parametrize(
    ("phase", "start", "stop", "restart"),
    [
        ("running", False, True, True),
        ("degraded", False, True, True),
        ("starting", False, True, False),
        ("restarting", True, True, False),
        ("stopped", True, False, False),
        ("error", True, False, False),
    ],
)
def test_start_stop_restart_are_enabled_by_the_proxy_phase(
    phase: str, start: bool, stop: bool, restart: bool
) -> None:
    menu = build_menu(replace(STATE, proxy=ProxyStatus(phase, URL)))  # type: ignore[arg-type]
    enabled = {e.action: e.enabled for e in menu if e.action in (Action.START, Action.STOP, Action.RESTART)}
    assert enabled == {Action.START: start, Action.STOP: stop, Action.RESTART: restart}


@pytest.mark.parametrize(("shell", "login"), [(True, False), (False, True)])
def test_toggles_are_checked_from_the_state(shell: bool, login: bool) -> None:
    menu = build_menu(replace(STATE, shell_integration=shell, launch_at_login=login))
    assert find_entry(menu, Action.TOGGLE_SHELL) == MenuEntry(
        "Shell integration", Action.TOGGLE_SHELL, checked=shell
    )
    assert find_entry(menu, Action.TOGGLE_AUTOSTART) == MenuEntry(
        "Launch at login", Action.TOGGLE_AUTOSTART, checked=login
    )


def test_actions_the_app_cannot_perform_are_left_out_without_stray_separators() -> None:
    menu = build_menu(STATE, ALL_ACTIONS - {Action.TOGGLE_SHELL, Action.TOGGLE_AUTOSTART})
    assert "Shell integration" not in labels(menu)
    assert "Launch at login" not in labels(menu)
    assert "---\n---" not in "\n".join(labels(menu))
    assert labels(menu)[-1] == "Quit"


def test_warning_flag_and_icon_kind() -> None:
    assert STATE.icon_kind == "running"
    alerted = replace(STATE, spend=Spend(8.0, 20.1, (budget("daily", "day", 10.0, 8.0, alerts=(0.75,)),)))
    assert alerted.warning and alerted.icon_kind == "warning"
    assert replace(STATE, proxy=ProxyStatus("degraded", URL)).icon_kind == "warning"
    assert replace(STATE, proxy=ProxyStatus("restarting")).icon_kind == "warning"
    assert replace(alerted, proxy=ProxyStatus("stopped")).icon_kind == "stopped"
    assert replace(STATE, proxy=ProxyStatus("error", reason="x")).icon_kind == "stopped"
    assert alerted.budget_ring() == pytest.approx(19 / 24)  # 0.8 rounded to the nearest 1/24


# -- the pystray adapter ----------------------------------------------------------------------------------------


@pytest.fixture
def pystray_dummy(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    import pystray

    return pystray


def test_pystray_menu_dispatches_and_follows_the_current_state(pystray_dummy: object) -> None:
    from ccproxy_desktop.desktop.menu import to_pystray

    current = {"state": STATE}
    dispatched: list[tuple[Action, str | None]] = []
    menu = to_pystray(lambda: build_menu(current["state"]), lambda a, arg: dispatched.append((a, arg)))

    items = list(menu)  # what the backend shows (pystray drops the separators at the ends, merges repeats)
    assert [i.text for i in items][:2] == [
        "Running on 127.0.0.1:4000",
        "Today $1.23 of $10.00 · Month $20.10 of $100.00",
    ]
    assert not items[0].enabled
    model_item = next(i for i in items if i.submenu)
    think = next(i for i in model_item.submenu if i.text == "think")
    assert think.radio and think.checked is False
    think(None)  # a click
    assert dispatched == [(Action.SWITCH_MODEL, "think")]

    # The state changes (the switch was written): the same item objects read the new values...
    current["state"] = replace(STATE, model_choice=ModelChoice("think"), proxy=ProxyStatus("stopped"))
    assert think.checked is True
    stop = next(i for i in items if i.text == "Stop proxy")
    assert stop.enabled is False
    # ...and a rebuilt menu (icon.update_menu()) shows the new structure.
    rebuilt = list(menu)
    assert rebuilt[0].text == "Stopped"
    assert next(i for i in rebuilt if i.submenu).text == "Model: think"

    quit_item = next(i for i in rebuilt if i.text == "Quit")
    quit_item(None)
    assert dispatched[-1] == (Action.QUIT, None)
    shell = next(i for i in rebuilt if i.text == "Shell integration")
    assert shell.checked is False and not shell.radio


def test_clear_response_cache_shows_only_when_the_cache_is_on() -> None:
    assert "Clear response cache" not in labels(build_menu(STATE))
    menu = build_menu(replace(STATE, response_cache=True))
    assert labels(menu)[-4:] == ["Dashboard", "Clear response cache", "---", "Quit"]
    assert "Clear response cache" not in labels(
        build_menu(replace(STATE, response_cache=True), {Action.QUIT})
    )


def test_route_to_lists_each_rule_with_the_models_it_can_go_to() -> None:
    state = replace(STATE, routes=(("default", None), ("background", "think")))
    route = by_label(build_menu(state), "Route to")
    assert route is not None and route.submenu is not None
    assert labels(route.submenu) == ["default: its own model", "background: think"]
    background = route.submenu[1].submenu
    assert background is not None
    assert [(e.label, e.checked, e.argument) for e in background] == [
        ("default", False, "background\tdefault"),
        ("think", True, "background\tthink"),
    ]  # not the rule itself
    assert all(e.action is Action.ROUTE and e.radio for e in background)
    assert by_label(build_menu(STATE), "Route to") is None  # no rules known yet
    assert by_label(build_menu(state, ALL_ACTIONS - {Action.ROUTE}), "Route to") is None


def by_label(entries: tuple[MenuEntry, ...], label: str) -> MenuEntry | None:
    return next((e for e in entries if e.label == label), None)


def test_providers_offer_test_and_remove_of_each_added_one_and_add_of_the_others() -> None:
    providers = by_label(build_menu(replace(STATE, providers=("deepseek", "ollama"))), "Providers")
    assert providers is not None and providers.submenu is not None
    assert labels(providers.submenu) == ["deepseek", "ollama", "Add"]
    deepseek = providers.submenu[0].submenu
    assert [(e.label, e.action, e.argument) for e in deepseek] == [
        ("Test", Action.TEST_PROVIDER, "deepseek"),
        ("Remove…", Action.REMOVE_PROVIDER, "deepseek"),  # asks first
    ]
    add = providers.submenu[2].submenu
    assert all(e.action is Action.ADD_PROVIDER for e in add)
    offered = {e.argument: e.label for e in add}
    assert "deepseek" not in offered and "ollama" not in offered  # added already
    # A key is typed in a terminal window ("…"); a local server or a cloud SDK login needs nothing typed.
    assert offered["openrouter"] == "OpenRouter…" and offered["lmstudio"] == "LM Studio"
    assert offered["bedrock"] == "AWS Bedrock"
    assert len(add) == len(PRESETS) - 2


def test_models_a_provider_lists_are_offered_in_the_pickers_under_more_from() -> None:
    many = tuple(f"m{i}" for i in range(MAX_OFFERED + 3))
    state = replace(
        STATE,
        models=("default", "ollama/llama3.1"),
        routes=(("default", None), ("background", None)),
        offered=(("ollama", ("qwen3-coder:30b",)), ("openrouter", many)),
    )
    model = by_label(build_menu(state), "Model: Auto (rules)")
    assert model is not None
    more = by_label(model.submenu, "More from ollama")
    assert more is not None
    assert [(e.label, e.action, e.argument) for e in more.submenu] == [
        ("qwen3-coder:30b", Action.SWITCH_MODEL, "ollama/qwen3-coder:30b")
    ]
    route = by_label(build_menu(state), "Route to")
    assert route is not None
    background = by_label(route.submenu, "background: its own model")
    assert background is not None
    assert labels(background.submenu)[-3:] == ["---", "More from ollama", "More from openrouter"]
    ollama = by_label(background.submenu, "More from ollama")
    assert ollama is not None and ollama.submenu[0].argument == "background\tollama/qwen3-coder:30b"
    openrouter = by_label(background.submenu, "More from openrouter")
    assert openrouter is not None
    assert len(openrouter.submenu) == MAX_OFFERED + 1  # the rest: `ccproxy provider models openrouter`
    hint = openrouter.submenu[-1]
    assert hint.label == "3 more: ccproxy provider models openrouter" and not hint.enabled
