"""Issue 12 in the tray: the subscription's windows in the menu and their notifications, the spend split by
project, and the one-click Claude Code status line (a real settings.json in tmp_path)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ccproxy_desktop.desktop.advice import SubscriptionWatch
from ccproxy_desktop.desktop.app import TrayApp
from ccproxy_desktop.desktop.menu import Action, build_menu, find_entry, subscription_lines
from ccproxy_desktop.desktop.state import AppState, LimitWindow, ProxyStatus, Subscription
from ccproxy_desktop.desktop.toggles import StatusLineToggle
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage

if TYPE_CHECKING:
    from conftest import World

NOW = time.mktime((2026, 12, 2, 11, 30, 0, 0, 0, -1))  # a Wednesday, local time
AT_14 = int(time.mktime((2026, 12, 2, 14, 0, 0, 0, 0, -1)))
MONDAY_9 = int(time.mktime((2026, 12, 7, 9, 0, 0, 0, 0, -1)))


def subscription(five_hour: float, *, status: str = "allowed", weekly: float = 0.2) -> Subscription:
    return Subscription(
        (LimitWindow("5h", five_hour, AT_14, status), LimitWindow("7d", weekly, MONDAY_9, "allowed")),
        status=status,
        resets_at=AT_14,
        as_of=NOW,
    )


def test_the_menu_shows_each_window_with_its_reset() -> None:
    assert subscription_lines(subscription(0.62)) == [
        "5-hour window: 62%, resets 14:00",
        "7-day window: 20%, resets Mon 09:00",
    ]
    refused = subscription_lines(subscription(1.0, status="rejected"))
    assert refused[0] == "5-hour window: limit reached, resets 14:00"
    later = replace(subscription(0.62), as_of=AT_14 + 60)
    assert subscription_lines(later)[0] == "5-hour window: 62%, reset since"
    assert subscription_lines(None) == []


def test_the_windows_sit_under_the_spend_lines_and_keep_the_model_menu_first_to_reach() -> None:
    state = AppState(proxy=ProxyStatus("running", "http://127.0.0.1:4000"), subscription=subscription(0.62))
    menu = build_menu(state)
    labels = [e.label for e in menu]
    assert labels[1:4] == [
        "Spend: unavailable",
        "5-hour window: 62%, resets 14:00",
        "7-day window: 20%, resets Mon 09:00",
    ]
    assert not any(e.enabled for e in menu[:4])
    assert menu[5].label == "Model: Auto (rules)"


def test_the_report_orders_the_five_hour_window_first() -> None:
    report = {
        "windows": {
            "7d_sonnet": {"used": 0.1, "resets_at": MONDAY_9, "status": "allowed"},
            "7d": {"used": 0.3, "resets_at": MONDAY_9, "status": "allowed"},
            "5h": {"used": 0.5, "resets_at": AT_14, "status": "allowed"},
        },
        "status": "allowed",
    }
    parsed = Subscription.from_report(report, NOW)
    assert [w.name for w in parsed.windows] == ["5h", "7d", "7d_sonnet"]
    assert parsed.windows[0] == LimitWindow("5h", 0.5, AT_14, "allowed")


def test_notifications_at_80_and_95_percent_once_per_window_period() -> None:
    watch = SubscriptionWatch()
    assert watch.check(subscription(0.5)) == []
    [at_80] = watch.check(subscription(0.82))
    assert at_80.title == "Claude 5-hour window at 82%"
    assert "resets Wed 14:00" in at_80.message
    assert watch.check(subscription(0.85)) == []  # the same period: said once
    [at_95] = watch.check(subscription(0.96))
    assert at_95.title == "Claude 5-hour window at 96%"
    assert watch.check(subscription(0.97)) == []
    [refused] = watch.check(subscription(1.0, status="rejected"))
    assert refused.title == "Claude subscription limit reached"
    assert "5-hour window until Wed 14:00" in refused.message
    assert watch.check(subscription(1.0, status="rejected")) == []
    next_period = Subscription((LimitWindow("5h", 0.81, AT_14 + 5 * 3600, "allowed"),), as_of=NOW)
    assert [a.title for a in watch.check(next_period)] == ["Claude 5-hour window at 81%"]


def test_a_jump_past_95_percent_is_one_notification_and_priming_announces_nothing() -> None:
    watch = SubscriptionWatch()
    assert len(watch.check(subscription(0.97))) == 1
    primed = SubscriptionWatch()
    primed.prime(subscription(0.9))
    assert primed.check(subscription(0.9)) == []
    assert [a.title for a in primed.check(subscription(0.95))] == ["Claude 5-hour window at 95%"]


def write_report(world: World, used: float) -> None:
    reset = int(time.time()) + 3 * 3600
    record = {
        "updated_at": time.time(),
        "windows": {"5h": {"used": used, "resets_at": reset, "status": "allowed"}},
        "status": "allowed",
    }
    world.paths.subscription_file.parent.mkdir(parents=True, exist_ok=True)
    world.paths.subscription_file.write_text(json.dumps({"accounts": {"acct": record}}))


def test_the_poller_reads_the_proxys_file_and_announces_a_crossing(world: World) -> None:
    write_report(world, 0.85)  # known before the tray started: shown, not announced
    world.app.poller.prime()
    world.app.poller.poll()
    assert world.app.state.subscription is not None
    assert any(e.label.startswith("5-hour window: 85%, resets ") for e in world.app.entries())
    assert world.notifier.kinds() == []
    write_report(world, 0.96)
    world.app.poller.poll()
    assert world.notifier.kinds() == ["subscription:5h"]
    assert world.notifier.sent[0].title == "Claude 5-hour window at 96%"


def test_the_spend_splits_by_project(world: World) -> None:
    base = RequestRecord(
        request_id="",
        ts=0.0,
        label="default",
        requested_model="claude-sonnet-4-5",
        routed_model="default",
        provider_model="anthropic/claude-sonnet-5",
        usage=TokenUsage(input=100, output=10),
        cost_usd=1.0,
    )
    for i, (project, cost) in enumerate([("api", 2.0), ("web", 0.5), ("api", 1.0), (None, 4.0)]):
        world.ledger.record(replace(base, request_id=f"p{i}", ts=time.time(), project=project, cost_usd=cost))
    assert world.ledger.flush()
    world.app.poller.prime()
    world.app.poller.poll()
    assert world.app.state.project_spend == (("(no project)", 4.0), ("api", 3.0), ("web", 0.5))
    [projects] = [e for e in world.app.entries() if e.label == "Spend by project (month)"]
    assert [e.label for e in projects.submenu] == ["(no project): $4.00", "api: $3.00", "web: $0.50"]


def statusline_app(world: World, settings: Path) -> TrayApp:
    toggle = StatusLineToggle(
        settings, lambda wrapped: "ccproxy-statusline" + (f" --wrap {wrapped}" if wrapped else "")
    )
    return TrayApp(world.paths, replace(world.app.services, statusline=toggle), clock=world.clock)


def test_the_status_line_item_installs_and_removes_byte_for_byte(world: World, tmp_path: Path) -> None:
    settings = tmp_path / "claude" / "settings.json"
    settings.parent.mkdir()
    original = '{\n    "model": "opus",\n    "env": {"A": "1"}\n}\n'
    settings.write_text(original)
    app = statusline_app(world, settings)
    entry = find_entry(app.entries(), Action.TOGGLE_STATUSLINE)
    assert entry is not None and entry.checked is False
    app.dispatch(Action.TOGGLE_STATUSLINE)
    assert json.loads(settings.read_text())["statusLine"] == {
        "type": "command",
        "command": "ccproxy-statusline",
    }
    assert app.state.claude_statusline
    app.dispatch(Action.TOGGLE_STATUSLINE)
    assert settings.read_text() == original
    assert not app.state.claude_statusline


def test_a_status_line_of_the_users_own_is_offered_a_wrap_never_overwritten(
    world: World, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.json"
    original = '{"statusLine": {"type": "command", "command": "~/bin/my-line"}}\n'
    settings.write_text(original)
    app = statusline_app(world, settings)
    app.dispatch(Action.TOGGLE_STATUSLINE)
    assert settings.read_text() == original
    [offer] = world.notifier.sent
    assert offer.title == "Claude Code has a status line of yours"
    offer.press("Wrap mine")
    assert (
        json.loads(settings.read_text())["statusLine"]["command"] == "ccproxy-statusline --wrap ~/bin/my-line"
    )
    assert app.state.claude_statusline
    app.dispatch(Action.TOGGLE_STATUSLINE)
    assert settings.read_text() == original
