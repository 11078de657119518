"""What the tray tells the user: ledger events and proxy transitions as notifications, and the cheaper model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.desktop.advice import (
    Advice,
    AdviceButton,
    advice_for_events,
    advice_for_proxy,
    cheaper_model,
)
from ccproxy_desktop.desktop.menu import Action
from ccproxy_desktop.desktop.prices import ModelPrices
from ccproxy_desktop.desktop.state import ProxyStatus
from ccproxy_desktop.ledger.records import Event

MESSAGE = "Budget daily: $7.52 of $10.00 (75%) spent today. At this rate you reach the limit at 16:40."


def alert(event_id: int, budget: str, fraction: float, message: str = MESSAGE) -> Event:
    payload: dict[str, object] = {
        "budget": budget,
        "period": "day",
        "fraction": fraction,
        "spent_usd": 7.52,
        "limit_usd": 10.0,
        "message": message,
    }
    return Event(event_id, 0.0, "budget_alert", payload)


def test_a_budget_alert_carries_the_burn_rate_sentence_and_a_switch_button() -> None:
    [advice] = advice_for_events([alert(1, "daily", 0.75)], lambda: "background")
    assert advice == Advice(
        "budget:daily",
        "Budget daily at 75%",
        MESSAGE,
        (AdviceButton("Switch to background", Action.SWITCH_MODEL, "background"),),
    )


def test_no_switch_button_without_a_cheaper_model() -> None:
    [advice] = advice_for_events([alert(1, "daily", 1.0)], lambda: None)
    assert advice.title == "Budget daily reached"
    assert advice.buttons == ()


def test_alerts_crossed_at_once_give_one_notification_per_budget_for_the_highest() -> None:
    events = [
        alert(1, "daily", 0.75),
        alert(2, "daily", 1.0),
        alert(3, "daily", 0.9),
        alert(4, "weekly", 0.75),
    ]
    asked = []
    advice = advice_for_events(events, lambda: asked.append(1) or "background")  # type: ignore[func-returns-value]
    assert [a.title for a in advice] == ["Budget daily reached", "Budget weekly at 75%"]
    assert asked == [1]  # prices are looked up once per batch


def test_cheaper_model_is_not_looked_up_without_a_budget_alert() -> None:
    def explode() -> str:
        raise AssertionError("looked up")

    events = [Event(1, 0, "config_reloaded", {"models_changed": False})]
    assert advice_for_events(events, explode) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            Event(
                1, 0, "config_error", {"issues": ["x"], "message": "Config error, last good config kept: x"}
            ),
            Advice(
                "config-error",
                "Config error",
                "Config error, last good config kept: x",
                (AdviceButton("Open config", Action.OPEN_CONFIG),),
            ),
        ),
        (
            Event(2, 0, "credential_failure", {"provider": "anthropic", "message": "refresh token expired"}),
            Advice(
                "credential:anthropic",
                "Credentials for anthropic failed",
                "refresh token expired",
                (AdviceButton("Open log", Action.OPEN_LOG),),
            ),
        ),
        (Event(3, 0, "config_reloaded", {"models_changed": True}), None),
        (Event(4, 0, "something_new", {}), None),
    ],
)
def test_other_events(event: Event, expected: Advice | None) -> None:
    assert advice_for_events([event], lambda: None) == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("status", "transition", "title", "text"),
    [
        (
            ProxyStatus("restarting", reason="the proxy (pid 7) exited", attempt=1),
            "down",
            "Proxy down",
            "The proxy (pid 7) exited. Restarting it…",
        ),
        (ProxyStatus("running", "http://127.0.0.1:4000", 8), "back", "Proxy back", "127.0.0.1:4000"),
        (
            ProxyStatus("error", reason="gave up after 5 failures in 10 minutes: port"),
            "gave_up",
            "Proxy stopped",
            "Gave up after 5",
        ),
        (
            ProxyStatus("restarting", reason="the proxy exited with code 3"),
            "start_failed",
            "Proxy failed to start",
            "code 3",
        ),
    ],
)
def test_proxy_transitions_a_person_should_hear_about(
    status: ProxyStatus, transition: str, title: str, text: str
) -> None:
    advice = advice_for_proxy(status, transition)  # type: ignore[arg-type]
    assert advice is not None
    assert advice.title == title
    assert text in advice.message
    assert AdviceButton("Open log", Action.OPEN_LOG) in advice.buttons or transition == "back"
    if transition in ("start_failed", "gave_up"):  # usually a config error: the fix is in the config
        assert AdviceButton("Open config", Action.OPEN_CONFIG) in advice.buttons


@pytest.mark.parametrize("transition", ["up", "stopped", "changed"])
def test_quiet_transitions(transition: str) -> None:
    assert advice_for_proxy(ProxyStatus("running", "http://x:1"), transition) is None  # type: ignore[arg-type]


PRICES = {"default": 18.0, "think": 90.0, "background": 6.0, "web_search": 12.5, "mystery": None}


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("think", "background"),  # the cheapest of those cheaper
        ("default", "background"),
        ("web_search", "background"),
        ("background", None),  # already the cheapest
        ("mystery", "background"),  # unknown price: the background model, Claude Code's own cheap pick
        (None, "background"),
    ],
)
def test_cheaper_model(current: str | None, expected: str | None) -> None:
    assert cheaper_model(list(PRICES), current, PRICES.get) == expected


def test_cheaper_model_without_prices_or_a_background_model() -> None:
    assert cheaper_model(["a", "b"], "a", lambda _: None) is None


def test_prices_come_from_pricing_then_litellms_map(config_paths: ConfigPaths) -> None:
    settings = load_settings(config_paths)
    price_map = {"claude-opus-4-8": {"input_cost_per_token": 5e-6, "output_cost_per_token": 25e-6}}
    loads = []
    prices = ModelPrices(settings, lambda: loads.append(1) or price_map)  # type: ignore[func-returns-value]
    assert prices.price("background") == pytest.approx(6.0)  # pricing: by model_name, per million
    assert loads == []  # the map is read only when `pricing:` does not know the model
    assert prices.price("claude-*") is None  # a wildcard has no price
    # `token_count` routes to claude-sonnet-5-1m, which neither knows.
    assert prices.price("token_count") is None
    assert loads == [1]


def test_litellms_price_map_is_read_without_importing_litellm(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from ccproxy_desktop.desktop.prices import litellm_price_map\n"
        "m = litellm_price_map()\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
        "print(len(m), 'claude-sonnet-4-5' in m or 'anthropic/claude-sonnet-4-5' in m)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=repo, check=False
    )
    assert done.returncode == 0, done.stderr
    count, has_sonnet = done.stdout.split()
    assert int(count) > 1000 and has_sonnet == "True"
