"""Notification rate limits and dedup (fake clock), and the asyncio adapter on a fake backend."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from ccproxy_desktop.desktop.notifier import DesktopNotifications, Notification, Throttle

if TYPE_CHECKING:
    from conftest import FakeClock


def n(kind: str, message: str = "m", title: str = "t") -> Notification:
    return Notification(kind, title, message)


@pytest.fixture
def throttle(clock: FakeClock) -> Throttle:
    return Throttle(clock, per_kind_interval=60.0, per_minute=4, dedup_window=600.0)


def test_one_per_kind_per_interval_and_the_newest_waiting_one_wins(
    throttle: Throttle, clock: FakeClock
) -> None:
    assert throttle.offer(n("budget:daily", "75%")) == [n("budget:daily", "75%")]
    assert throttle.offer(n("budget:daily", "90%")) == []  # too soon: waits
    assert throttle.offer(n("budget:daily", "100%")) == []  # replaces the waiting 90%
    assert throttle.waiting == [n("budget:daily", "100%")]
    assert throttle.next_due() == clock.now + 60
    clock.advance(59)
    assert throttle.due() == []
    clock.advance(1)
    assert throttle.due() == [n("budget:daily", "100%")]
    assert throttle.waiting == []
    assert throttle.next_due() is None


def test_other_kinds_are_not_held_up_by_one_kind(throttle: Throttle) -> None:
    assert throttle.offer(n("proxy-down")) == [n("proxy-down")]
    assert throttle.offer(n("proxy-back")) == [n("proxy-back")]  # "back" right after "down" goes out


def test_at_most_four_a_minute_in_all(throttle: Throttle, clock: FakeClock) -> None:
    sent = [x for i in range(10) for x in throttle.offer(n(f"kind-{i}"))]
    assert [x.kind for x in sent] == ["kind-0", "kind-1", "kind-2", "kind-3"]
    assert len(throttle.waiting) == 6
    clock.advance(30)
    assert throttle.due() == []
    clock.advance(30)
    assert [x.kind for x in throttle.due()] == ["kind-4", "kind-5", "kind-6", "kind-7"]  # in arrival order
    clock.advance(60)
    assert [x.kind for x in throttle.due()] == ["kind-8", "kind-9"]


def test_an_identical_notification_is_dropped_for_ten_minutes(throttle: Throttle, clock: FakeClock) -> None:
    assert throttle.offer(n("config-error", "bad key")) != []
    clock.advance(120)
    assert throttle.offer(n("config-error", "bad key")) == []
    assert throttle.waiting == []  # dropped, not deferred
    assert throttle.offer(n("config-error", "another key")) != []  # different text: news
    clock.advance(600)
    assert throttle.offer(n("config-error", "bad key")) != []


def test_a_storm_of_one_kind_gives_two_notifications(throttle: Throttle, clock: FakeClock) -> None:
    delivered = []
    for second in range(120):
        delivered += throttle.offer(n("request-failures", f"{second} failed"))
        delivered += throttle.due()
        clock.advance(1)
    delivered += throttle.due()
    # The first at once, one a minute after, then the newest that waited: never the 117 in between.
    assert [d.message for d in delivered] == ["0 failed", "60 failed", "119 failed"]


# -- the adapter -------------------------------------------------------------------------------------------------


class FakeBackend:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, str, list[tuple[str, Any]]]] = []
        self.fail = fail
        self.thread: str | None = None
        self.arrived = threading.Event()

    async def send(self, title: str, message: str, buttons: Sequence[Any] = ()) -> Any:
        self.thread = threading.current_thread().name
        await asyncio.sleep(0)
        self.sent.append((title, message, list(buttons)))
        self.arrived.set()
        if self.fail is not None:
            raise self.fail
        return "id"


def test_notify_from_any_thread_reaches_the_backend_on_the_notifier_thread() -> None:
    backend = FakeBackend()
    notifications = DesktopNotifications(backend_factory=lambda: backend)
    pressed = threading.Event()
    try:
        worker = threading.Thread(
            target=notifications.notify,
            args=("Budget daily at 75%", "Budget daily: $7.50 of $10.00 (75%) spent today."),
            kwargs={"buttons": [("Switch to background", pressed.set)], "kind": "budget:daily"},
        )
        worker.start()
        worker.join()
        notifications.drain()
        [(title, message, buttons)] = backend.sent
        assert title == "Budget daily at 75%"
        assert message == "Budget daily: $7.50 of $10.00 (75%) spent today."
        assert [label for label, _ in buttons] == ["Switch to background"]
        assert backend.thread == "tray-notifier"
        buttons[0][1]()  # what desktop-notifier does when the button is pressed
        assert pressed.is_set()
    finally:
        notifications.close()


def test_a_deferred_notification_goes_out_when_its_kind_may_again() -> None:
    backend = FakeBackend()
    throttle = Throttle(time.monotonic, per_kind_interval=0.3)
    notifications = DesktopNotifications(backend_factory=lambda: backend, throttle=throttle)
    try:
        notifications.notify("Budget daily at 75%", "75", kind="budget:daily")
        notifications.notify("Budget daily at 90%", "90", kind="budget:daily")
        notifications.notify("Budget daily reached", "100", kind="budget:daily")
        notifications.drain()
        assert [m for _, m, _ in backend.sent] == ["75"]
        deadline = time.monotonic() + 5
        while len(backend.sent) < 2:
            assert time.monotonic() < deadline, "the waiting notification was never released"
            time.sleep(0.02)
        time.sleep(0.4)  # nothing else is waiting: no third notification may come
        assert [m for _, m, _ in backend.sent] == ["75", "100"]
    finally:
        notifications.close()


def test_failures_are_logged_once_and_a_bad_button_does_not_kill_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = FakeBackend(fail=ConnectionError("no notification server"))
    notifications = DesktopNotifications(backend_factory=lambda: backend)
    caplog.set_level(logging.WARNING, logger="ccproxy_desktop.desktop.notifier")
    try:

        def broken() -> None:
            raise RuntimeError("boom")

        notifications.notify("a", "1", [("Do it", broken)], kind="a")
        notifications.notify("b", "2", kind="b")
        notifications.drain()
        assert len(backend.sent) == 2
        assert sum("not shown" in r.getMessage() for r in caplog.records) == 1
        backend.sent[0][2][0][1]()  # the broken button, as desktop-notifier would call it
        assert any("notification button 'Do it' failed" in r.getMessage() for r in caplog.records)
        backend.fail = None
        notifications.notify("c", "3", kind="c")
        notifications.drain()
        assert backend.sent[-1][:2] == ("c", "3")
    finally:
        notifications.close()
