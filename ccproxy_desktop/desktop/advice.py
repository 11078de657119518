"""What to tell the user, and which button to offer: ledger events, proxy transitions and request failures
turned into `Advice` (a notification's kind, title, message and buttons). Pure.

Buttons name menu `Action`s, so a notification's button does exactly what the same menu item does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..ledger.records import Event
from ..proxy.subscription import window_label
from .menu import Action
from .state import ProxyStatus, Subscription
from .supervisor import Transition

__all__ = [
    "Advice",
    "AdviceButton",
    "SubscriptionWatch",
    "advice_for_events",
    "advice_for_proxy",
    "advice_for_request_failures",
    "cheaper_model",
]

MAX_MESSAGE_CHARS = 400


@dataclass(frozen=True)
class AdviceButton:
    label: str
    action: Action
    argument: str | None = None


@dataclass(frozen=True)
class Advice:
    kind: str  # rate limits apply per kind
    title: str
    message: str
    buttons: tuple[AdviceButton, ...] = ()


OPEN_LOG = AdviceButton("Open log", Action.OPEN_LOG)
OPEN_CONFIG = AdviceButton("Open config", Action.OPEN_CONFIG)


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def cheaper_model(
    models: Sequence[str], current: str | None, price: Callable[[str], float | None]
) -> str | None:
    """A model to switch the main conversation to when a budget runs out: the cheapest model (by `price`, any
    consistent unit) that costs less than `current`; when `current`'s price is unknown, the `background` model
    (in the default rules, Claude Code's own pick for cheap requests). None if nothing is known to be cheaper."""
    current_price = price(current) if current is not None else None
    if current_price is None:
        return "background" if "background" in models and current != "background" else None
    cheaper = [
        (known, name)
        for name in models
        if name != current and (known := price(name)) is not None and known < current_price
    ]
    return min(cheaper)[1] if cheaper else None


def advice_for_events(events: Iterable[Event], cheaper: Callable[[], str | None]) -> list[Advice]:
    """Notifications for new ledger events, in order. Several alerts of one budget in a batch (a big request
    can cross 75%, 90% and 100% at once) give one notification, for the highest threshold. `cheaper` is asked
    (lazily: it may read a price map) for the model a "Switch to" button offers."""
    advice: list[Advice] = []
    alerts: dict[str, Event] = {}
    for event in events:
        if event.kind == "budget_alert":
            budget = str(event.payload.get("budget", "?"))
            previous = alerts.get(budget)
            if previous is None or (_number(event.payload.get("fraction")) or 0) >= (
                _number(previous.payload.get("fraction")) or 0
            ):
                alerts[budget] = event
        elif event.kind == "config_error":
            message = str(event.payload.get("message") or "The config could not be reloaded.")
            advice.append(Advice("config-error", "Config error", _short(message), (OPEN_CONFIG,)))
        elif event.kind == "credential_failure":
            provider = str(event.payload.get("provider", "a provider"))
            message = str(
                event.payload.get("message") or f"The credentials for {provider} could not be refreshed."
            )
            advice.append(
                Advice(
                    f"credential:{provider}",
                    f"Credentials for {provider} failed",
                    _short(message),
                    (OPEN_LOG,),
                )
            )
    if alerts:
        switch_to = cheaper()
        advice += [_budget_advice(event, switch_to) for event in alerts.values()]
    return advice


def _budget_advice(event: Event, switch_to: str | None) -> Advice:
    payload = event.payload
    budget = str(payload.get("budget", "?"))
    fraction = _number(payload.get("fraction")) or 0.0
    title = f"Budget {budget} reached" if fraction >= 1 else f"Budget {budget} at {fraction:.0%}"
    message = payload.get("message")
    if not isinstance(message, str) or not message:
        spent, limit = _number(payload.get("spent_usd")), _number(payload.get("limit_usd"))
        message = f"${spent:,.2f} of ${limit:,.2f} spent." if spent is not None and limit else title + "."
    buttons = (AdviceButton(f"Switch to {switch_to}", Action.SWITCH_MODEL, switch_to),) if switch_to else ()
    return Advice(f"budget:{budget}", title, _short(message), buttons)


def advice_for_proxy(status: ProxyStatus, transition: Transition) -> Advice | None:
    """A notification for a supervisor transition a person should hear about (down, back, failures)."""
    reason = _short(status.reason or "")
    if transition == "down":
        return Advice("proxy-down", "Proxy down", f"{_sentence(reason)} Restarting it…", (OPEN_LOG,))
    if transition == "back":
        return Advice("proxy-back", "Proxy back", f"The proxy answers again on {status.address}.")
    if transition == "start_failed":
        return Advice(
            "proxy-start", "Proxy failed to start", f"{_sentence(reason)} Retrying…", (OPEN_LOG, OPEN_CONFIG)
        )
    if transition == "gave_up":
        return Advice("proxy-gave-up", "Proxy stopped", _sentence(reason), (OPEN_LOG, OPEN_CONFIG))
    return None


def advice_for_request_failures(reason: str) -> Advice:
    """The notification when the provider health turns degraded (`reason`: `ProviderHealth.reason`)."""
    return Advice("request-failures", "Requests are failing", _sentence(reason), (OPEN_LOG,))


SUBSCRIPTION_THRESHOLDS = (0.95, 0.8)


def _clock(resets_at: int | None) -> str:
    return time.strftime("%a %H:%M", time.localtime(resets_at)) if resets_at else "its reset"


class SubscriptionWatch:
    """Notifications for a Claude subscription's limits: a window crossing 80% and 95% (once each per window
    period: a period is known by its reset time), and a request refused for the limit (once per period).
    `prime` takes in what is known when the tray starts without announcing it."""

    def __init__(self) -> None:
        self._told: set[tuple[str, int | None, str]] = set()

    def prime(self, subscription: Subscription | None) -> None:
        self.check(subscription)

    def check(self, subscription: Subscription | None) -> list[Advice]:
        if subscription is None:
            return []
        advice: list[Advice] = []
        for window in subscription.windows:
            label = window_label(window.name)
            if window.status == "rejected":
                if self._tell(window.name, window.resets_at, "rejected"):
                    advice.append(_limit_reached(label, window.resets_at))
                continue
            crossed = next((t for t in SUBSCRIPTION_THRESHOLDS if (window.used or 0.0) >= t), None)
            if crossed is None:
                continue
            fresh = [
                self._tell(window.name, window.resets_at, f"{t:g}")
                for t in SUBSCRIPTION_THRESHOLDS
                if t <= crossed
            ]
            if any(fresh):
                used = window.used or 0.0
                advice.append(
                    Advice(
                        f"subscription:{window.name}",
                        f"Claude {label} at {used:.0%}",
                        f"{used:.0%} of your Claude subscription's {label} is used; it resets "
                        f"{_clock(window.resets_at)}.",
                    )
                )
        rejected_window = any(w.status == "rejected" for w in subscription.windows)
        overall = subscription.status == "rejected" and not rejected_window
        if overall and self._tell("overall", subscription.resets_at, "rejected"):
            advice.append(_limit_reached("limit", subscription.resets_at))
        return advice

    def _tell(self, window: str, resets_at: int | None, what: str) -> bool:
        key = (window, resets_at, what)
        if key in self._told:
            return False
        self._told.add(key)
        return True


def _limit_reached(label: str, resets_at: int | None) -> Advice:
    return Advice(
        "subscription-limit",
        "Claude subscription limit reached",
        f"Anthropic refuses requests for the {label} until {_clock(resets_at)}. Switch the model to another "
        "provider's from the tray, or wait.",
    )


def _sentence(text: str) -> str:
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "…", ":")) or "\n" in text else text + "."
