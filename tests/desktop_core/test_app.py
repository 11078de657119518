"""The tray app on fakes and a real ledger: what the poller shows and announces, and what actions do."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
import yaml
from PIL import Image

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.config.override import OverrideFile
from ccproxy_desktop.desktop.menu import Action, find_entry
from ccproxy_desktop.ledger.budgets import period_window
from ccproxy_desktop.ledger.clock import local_now
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.pipeline.router import ModelChoice
from ccproxy_desktop.testing.helpers import wait_for

if TYPE_CHECKING:
    from conftest import Sent, World

RECORD = RequestRecord(
    request_id="",
    ts=0.0,
    label="default",
    requested_model="claude-sonnet-4-5",
    routed_model="default",
    provider_model="anthropic/claude-sonnet-5",
    usage=TokenUsage(input=100, output=10),
    cost_usd=1.0,
)


def record(world: World, count: int = 1, **fields: object) -> None:
    for i in range(count):
        rid = f"r-{time.monotonic_ns()}-{i}"
        world.ledger.record(replace(RECORD, request_id=rid, ts=time.time(), **fields))  # type: ignore[arg-type]
    assert world.ledger.flush()


def daily_alert(world: World, fraction: float) -> None:
    key = period_window("day", local_now()).key
    message = f"Budget daily: ${fraction * 10:.2f} of $10.00 ({fraction:.0%}) spent today. At this rate you reach the limit at 16:40."
    assert world.ledger.claim_alert(
        "daily", key, fraction, {"budget": "daily", "fraction": fraction, "message": message}
    )


def test_the_first_menu_shows_models_budgets_and_toggles(started: World) -> None:
    state = started.app.state
    assert state.models == ("default", "background", "think", "token_count", "web_search")  # no wildcard
    assert state.scoped_budgets == frozenset({"thinking"})
    labels = [e.label for e in started.app.entries()]
    assert "Today $0.00 of $10.00 · Month $0.00 of $100.00" in labels
    assert "thinking: $0.00 of $5.00 (0%)" in labels
    assert started.icon.menu_refreshes == 1 and len(started.icon.images) == 1


def test_spend_and_alerts_reach_the_menu_and_the_icon(started: World) -> None:
    record(started, 3, cost_usd=2.5)  # $7.50 of the daily $10
    daily_alert(started, 0.75)
    started.app.poller.poll()
    state = started.app.state
    assert state.spend is not None and state.spend.today_usd == pytest.approx(7.5)
    assert "Today $7.50 of $10.00 · Month $7.50 of $100.00" in [e.label for e in started.app.entries()]
    assert state.icon_kind == "stopped"  # the proxy is not running (the supervisor did not run)
    started.app.update(proxy=replace(state.proxy, phase="running", url="http://127.0.0.1:4000"))
    assert started.app.state.icon_kind == "warning"  # past the first alert
    image = started.icon.images[-1]
    assert image.getpixel((32, 13))[:3] == pytest.approx((240, 162, 2), abs=40)  # amber disc


def test_events_from_before_the_start_are_not_announced_again(world: World) -> None:
    daily_alert(world, 0.75)
    world.ledger.add_event("config_error", {"issues": ["x"], "message": "old error"})
    world.app.poller.prime()
    world.app.poller.poll()
    assert world.notifier.sent == []


def test_a_budget_alert_offers_a_cheaper_model_and_its_button_switches_to_it(started: World) -> None:
    daily_alert(started, 0.75)
    started.app.poller.poll()
    [sent] = started.notifier.sent
    assert sent.kind == "budget:daily"
    assert sent.title == "Budget daily at 75%"
    assert "At this rate you reach the limit at 16:40." in sent.message
    assert sent.labels == ["Switch to background"]  # default ($18/M) -> background ($6/M)

    sent.press("Switch to background")
    assert OverrideFile(started.paths.model_override_file).read() == ModelChoice("background")
    model_menu = next(e for e in started.app.entries() if e.submenu)
    assert model_menu.label == "Model: background"
    assert find_entry(started.app.entries(), Action.SWITCH_MODEL, "background").checked  # type: ignore[union-attr]

    daily_alert(started, 0.9)
    started.app.poller.poll()
    assert started.notifier.sent[-1].labels == []  # already on the cheapest


def test_alerts_crossed_in_one_poll_give_one_notification(started: World) -> None:
    for fraction in (0.75, 0.9, 1.0):
        daily_alert(started, fraction)
    started.app.poller.poll()
    assert [s.title for s in started.notifier.sent] == ["Budget daily reached"]


def test_a_config_error_event_offers_to_open_the_config(started: World) -> None:
    started.ledger.add_event(
        "config_error", {"issues": ["a"], "message": "Config error, last good config kept: a"}
    )
    started.app.poller.poll()
    [sent] = started.notifier.sent
    assert (sent.title, sent.labels) == ("Config error", ["Open config"])
    sent.press("Open config")
    assert started.opener.opened == [started.paths.config_dir]


def test_events_of_a_ledger_made_anew_after_the_folder_was_deleted_are_announced(started: World) -> None:
    for i in range(3):
        started.ledger.add_event("config_error", {"issues": ["a"], "message": f"old error {i}"})
    started.app.poller.poll()
    assert len(started.notifier.sent) == 3  # the last event id seen is 3
    shutil.rmtree(started.paths.config_dir)  # with the ledger; the proxy writes its next event into a new one
    started.paths.config_dir.mkdir()
    with Ledger(started.paths.ledger_db) as proxy_ledger:  # the proxy's, in another process
        proxy_ledger.add_event("credential_failure", {"provider": "anthropic", "message": "token expired"})
    started.app.poller.poll()
    assert [s.kind for s in started.notifier.sent][-1] == "credential:anthropic"


def test_credential_failures_are_announced(started: World) -> None:
    started.ledger.add_event(
        "credential_failure", {"provider": "anthropic", "message": "refresh failed: 401"}
    )
    started.app.poller.poll()
    assert [(s.kind, s.message) for s in started.notifier.sent] == [
        ("credential:anthropic", "refresh failed: 401")
    ]


def test_provider_failures_are_announced_once_per_episode_and_cleared(started: World) -> None:
    record(started, 2, outcome="error:APIConnectionError", cost_usd=None)
    started.app.poller.poll()
    assert started.notifier.sent == []  # 2 failures: not yet degraded
    assert started.app.state.provider_problem is None
    record(started, 1, outcome="error:RateLimitError", cost_usd=None)
    started.app.poller.poll()
    [sent] = started.notifier.sent
    assert sent.title == "Requests are failing"
    assert sent.message == (
        "3 of the last 3 requests failed at the provider (APIConnectionError x2, RateLimitError x1)."
    )
    assert started.app.state.provider_problem is not None and started.app.state.warning
    record(started, 1, outcome="error:RateLimitError", cost_usd=None)
    started.app.poller.poll()
    assert len(started.notifier.sent) == 1  # still the same episode
    record(started, 5)  # successes: 4 failures among the latest 9 is no majority
    started.app.poller.poll()
    assert started.app.state.provider_problem is None and not started.app.state.warning


def test_an_idle_poll_changes_nothing_on_screen(started: World) -> None:
    refreshes, images, titles = (
        started.icon.menu_refreshes,
        len(started.icon.images),
        len(started.icon.titles),
    )
    for _ in range(3):
        started.app.poller.poll()
    assert (started.icon.menu_refreshes, len(started.icon.images), len(started.icon.titles)) == (
        refreshes,
        images,
        titles,
    )


def test_models_follow_config_yaml(started: World) -> None:
    litellm = yaml.safe_load(started.paths.litellm_yaml.read_text())
    litellm["model_list"] = [m for m in litellm["model_list"] if m["model_name"] != "think"]
    started.paths.litellm_yaml.write_text(yaml.safe_dump(litellm))
    started.app.poller.poll()
    assert "think" not in started.app.state.models


def test_a_switch_made_with_the_cli_shows_in_the_menu(started: World) -> None:
    OverrideFile(started.paths.model_override_file).write(ModelChoice("think", force_all=True))
    started.app.poller.poll()
    assert next(e for e in started.app.entries() if e.submenu).label == "Model: think (all requests)"


def test_model_switch_and_back_to_auto(started: World) -> None:
    started.app.dispatch(Action.SWITCH_MODEL, "think")
    assert OverrideFile(started.paths.model_override_file).read() == ModelChoice("think")
    started.app.dispatch(Action.SWITCH_MODEL, None)
    assert not started.paths.model_override_file.exists()
    assert started.app.state.model_choice is None


@pytest.mark.parametrize(
    ("action", "toggle", "field"),
    [
        (Action.TOGGLE_SHELL, "shell", "shell_integration"),
        (Action.TOGGLE_AUTOSTART, "autostart", "launch_at_login"),
    ],
)
def test_toggles(started: World, action: Action, toggle: str, field: str) -> None:
    fake = getattr(started, toggle)
    started.app.dispatch(action)
    assert fake.on and getattr(started.app.state, field)
    assert find_entry(started.app.entries(), action).checked  # type: ignore[union-attr]
    started.app.dispatch(action)
    assert not fake.on and not getattr(started.app.state, field)


def test_a_failing_action_becomes_a_notification(started: World) -> None:
    started.shell.fail_with = PermissionError("~/.bashrc: permission denied")
    started.app.dispatch(Action.TOGGLE_SHELL)
    [sent] = started.notifier.sent
    assert sent.kind == "action-error"
    assert "permission denied" in sent.message
    assert not started.app.state.shell_integration


def test_without_a_supported_shell_there_is_no_shell_item(world: World) -> None:
    from ccproxy_desktop.desktop.app import TrayApp

    services = replace(world.app.services, shell=None)
    app = TrayApp(world.paths, services, clock=world.clock)
    assert find_entry(app.entries(), Action.TOGGLE_SHELL) is None


def test_open_log_and_config_folder(started: World) -> None:
    started.app.dispatch(Action.OPEN_LOG)
    started.app.dispatch(Action.OPEN_CONFIG)
    assert started.opener.opened == [started.paths.proxy_log, started.paths.config_dir]
    assert started.paths.proxy_log.exists()


def test_the_dashboard_item_falls_back_to_the_usage_report_when_no_proxy_serves_it(started: World) -> None:
    # `ccproxy dashboard` (a real subprocess) finds no running proxy and fails: the month's chart opens instead.
    started.app.dispatch(Action.DASHBOARD)
    deadline = time.monotonic() + 60
    while not started.opener.opened and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.opener.opened == [started.paths.run_dir / "usage-report.png"]


def test_usage_report_draws_this_months_chart_and_opens_it(started: World) -> None:
    record(started, 2, cost_usd=1.5)
    started.app.dispatch(Action.USAGE_REPORT)
    [opened] = started.opener.opened
    assert opened == started.paths.run_dir / "usage-report.png"
    with Image.open(opened) as chart:
        assert chart.size == (1000, 500)


def test_proxy_transitions_update_the_menu_and_notify(started: World) -> None:
    started.app.supervisor.step()  # starts the (fake) proxy
    assert started.app.entries()[0].label == "Running on 127.0.0.1:4000"
    assert started.notifier.sent == []  # a normal start is not news
    started.proxy.crash()
    started.app.supervisor.step()
    assert [s.title for s in started.notifier.sent] == ["Proxy down"]
    assert started.app.entries()[0].label == "Down, restarting (attempt 2)…"
    assert started.app.state.icon_kind == "warning"
    started.clock.advance(1)
    started.app.supervisor.step()
    assert [s.title for s in started.notifier.sent] == ["Proxy down", "Proxy back"]


def test_menu_start_stop_go_through_the_supervisor(started: World) -> None:
    started.app.supervisor.step()
    started.app.dispatch(Action.STOP)
    started.app.supervisor.step()
    assert started.app.entries()[0].label == "Stopped"
    started.app.dispatch(Action.START)
    started.app.supervisor.step()
    assert started.app.entries()[0].label == "Running on 127.0.0.1:4000"


def test_quit_closes_the_icon_and_shutdown_stops_the_proxy_it_started(started: World) -> None:
    started.app.supervisor.step()
    started.app.dispatch(Action.QUIT)
    assert started.icon.stopped
    started.app.shutdown()
    assert started.proxy.calls == ["start", "stop"]
    assert started.notifier.closed


def test_clear_response_cache_is_offered_when_the_cache_is_on_and_empties_it(started: World) -> None:
    from ccproxy_desktop.cache.control import cache_stats, clear_signal_path
    from ccproxy_desktop.cache.store import SqliteResponseStore, cache_db_path
    from ccproxy_desktop.config.schema import CacheSpec

    assert find_entry(started.app.entries(), Action.CLEAR_CACHE) is None  # off by default
    settings = yaml.safe_load(started.paths.ccproxy_yaml.read_text())
    settings["ccproxy"]["cache"] = {"enabled": True}
    started.paths.ccproxy_yaml.write_text(yaml.safe_dump(settings))
    started.app.poller.poll()
    entry = find_entry(started.app.entries(), Action.CLEAR_CACHE)
    assert entry is not None and entry.label == "Clear response cache"

    store = SqliteResponseStore(cache_db_path(started.paths), 600, 10, 10_000)
    store.put("default:1", "default", "answer")
    store.put("think:1", "think", "answer")
    store.close()
    started.app.dispatch(Action.CLEAR_CACHE)
    stats = cache_stats(started.paths, CacheSpec())
    assert stats is not None and stats.entries == 0
    assert clear_signal_path(started.paths).exists()  # running proxies drop their memory entries too
    assert started.notifier.sent[-1].title == "Response cache cleared"


def test_route_to_edits_config_yaml_in_place_and_says_so(started: World) -> None:
    assert ("background", None) in started.app.state.routes
    before = started.paths.litellm_yaml.read_text()
    started.app.dispatch(Action.ROUTE, "background\tthink")
    entry = next(e for e in load_settings(started.paths).litellm.model_list if e.model_name == "background")
    assert entry.is_alias and entry.target == "think"
    assert started.paths.litellm_yaml.with_name("config.yaml.bak").read_text() == before
    assert "route" not in started.notifier.kinds()  # the menu's check mark says it
    assert ("background", "think") in started.app.state.routes

    started.app.dispatch(Action.ROUTE, "background\tno-such-model")  # refused, nothing written
    assert started.notifier.sent[-1].title == "background was not routed to no-such-model"
    assert "no model named 'no-such-model'" in started.notifier.sent[-1].message


def test_testing_a_provider_runs_ccproxy_provider_test_and_tells_its_verdict(started: World) -> None:
    # A real `ccproxy provider test` subprocess: nothing was added, so it says what to do.
    started.app.dispatch(Action.TEST_PROVIDER, "deepseek")
    deadline = time.monotonic() + 60
    while "provider-test" not in started.notifier.kinds() and time.monotonic() < deadline:
        time.sleep(0.1)
    [sent] = [s for s in started.notifier.sent if s.kind == "provider-test"]
    assert sent.title == "deepseek: failed"
    assert "ccproxy provider add deepseek" in sent.message


def wait_for_kind(world: World, kind: str, count: int = 1, timeout: float = 60) -> list[Sent]:
    def sent() -> list[Sent]:
        return [s for s in world.notifier.sent if s.kind == kind]

    wait_for(lambda: len(sent()) >= count, timeout=timeout)
    return sent()


def test_adding_a_provider_that_needs_a_key_opens_a_terminal_at_provider_add(started: World) -> None:
    started.app.dispatch(Action.ADD_PROVIDER, "deepseek")
    [command] = started.terminal.commands
    assert command[-3:] == ["provider", "add", "deepseek"]  # the key is typed at its hidden prompt
    assert command[command.index("--config-dir") + 1] == str(started.paths.config_dir)

    started.terminal.missing = True  # a desktop without a terminal program: it says what to type
    started.app.dispatch(Action.ADD_PROVIDER, "openrouter")
    [sent] = wait_for_kind(started, "provider-add")
    assert sent.title == "Add OpenRouter in a terminal"
    assert "`ccproxy provider add openrouter`" in sent.message


def test_a_local_server_is_added_at_once_and_removed_after_the_notification_asks(started: World) -> None:
    # Real `ccproxy provider add/remove` children; nothing listens at Ollama's port, so the preset's list.
    started.app.dispatch(Action.ADD_PROVIDER, "ollama")
    [added] = wait_for_kind(started, "provider-add")
    assert added.title == "ollama added", added.message
    assert "ollama/" in added.message
    assert "ollama" in started.app.state.providers
    names = [m for m in started.app.state.models if m.startswith("ollama/")]
    assert names and all(n in load_settings(started.paths).litellm.model_names() for n in names)

    started.app.dispatch(Action.REMOVE_PROVIDER, "ollama")  # asks first: nothing removed yet
    [ask] = wait_for_kind(started, "provider-remove")
    assert ask.title == "Remove ollama?" and names[0] in ask.message
    assert "keyring" not in ask.message  # a local server has no key
    assert [label for label, _ in ask.buttons] == ["Remove"]
    assert "ollama" in started.app.state.providers
    ask.buttons[0][1]()  # the button
    done = wait_for_kind(started, "provider-remove", count=2)[-1]
    assert done.title == "ollama removed", done.message
    started.app.poller.poll()
    assert "ollama" not in started.app.state.providers
    assert not any(n.startswith("ollama/") for n in load_settings(started.paths).litellm.model_names())


def test_a_cloud_provider_added_from_the_tray_says_which_credentials_the_proxy_needs(started: World) -> None:
    started.app.dispatch(Action.ADD_PROVIDER, "bedrock")
    [added] = wait_for_kind(started, "provider-add")
    assert added.title == "bedrock added", added.message
    assert "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0" in added.message
    assert "AWS credentials" in added.message


def test_a_model_a_provider_offers_is_added_then_routed_to(started: World) -> None:
    started.app.dispatch(Action.ADD_PROVIDER, "ollama")
    wait_for_kind(started, "provider-add")
    started.app.poller.poll()
    started.app.update(offered=(("ollama", ("qwen3-coder:480b",)),))  # as model discovery found it
    started.app.dispatch(Action.ROUTE, "background\tollama/qwen3-coder:480b")

    def routed() -> bool:
        entries = {e.model_name: e for e in load_settings(started.paths).litellm.model_list}
        background = entries.get("background")
        return (
            background is not None and background.is_alias and background.target == "ollama/qwen3-coder:480b"
        )

    wait_for(routed, timeout=60)
    entries = {e.model_name: e for e in load_settings(started.paths).litellm.model_list}
    assert entries["ollama/qwen3-coder:480b"].litellm_params["model"] == "ollama_chat/qwen3-coder:480b"
    assert ("background", "ollama/qwen3-coder:480b") in started.app.state.routes
    assert started.app.state.offered == ()  # no longer offered: it is in config.yaml
