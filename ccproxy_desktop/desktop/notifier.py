"""Native notifications with buttons, never a storm.

`Notifier` is what the app calls (any thread). `Throttle` (pure, injected clock) decides what goes out:
- at most one notification per `kind` every `per_kind_interval` seconds: a newer one of the same kind waits and
  replaces any older one still waiting (the latest news wins, nothing piles up);
- at most `per_minute` notifications in any 60 seconds, all kinds together; the rest wait their turn;
- a notification identical (kind, title, message) to one sent in the last `dedup_window` seconds is dropped.
`DesktopNotifications` runs desktop-notifier (D-Bus on Linux, native on macOS/Windows) on its own asyncio loop in
the `tray-notifier` thread; button callbacks run on that thread and must only call thread-safe app methods.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Button", "DesktopNotifications", "Notification", "Notifier", "Throttle"]

log = logging.getLogger(__name__)

Button = tuple[str, Callable[[], None]]
"""(label, callback): the callback runs on the notifier's thread when the button is pressed."""

APP_NAME = "ccproxy-desktop"


class Notifier(Protocol):
    def notify(self, title: str, message: str, buttons: Sequence[Button] = (), *, kind: str) -> None:
        """Show a notification (subject to rate limits). Returns at once; thread-safe."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Notification:
    kind: str
    title: str
    message: str
    buttons: tuple[Button, ...] = field(default=(), compare=False)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.kind, self.title, self.message)


class Throttle:
    """Rate limits and dedup (see the module docstring). Not thread-safe: one thread owns it."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        per_kind_interval: float = 60.0,
        per_minute: int = 4,
        dedup_window: float = 600.0,
    ) -> None:
        self._clock = clock
        self._per_kind_interval = per_kind_interval
        self._per_minute = per_minute
        self._dedup_window = dedup_window
        self._last_by_kind: dict[str, float] = {}
        self._sent_times: deque[float] = deque()
        self._sent_identities: dict[tuple[str, str, str], float] = {}
        self._waiting: dict[str, Notification] = {}  # by kind, in arrival order

    def offer(self, notification: Notification) -> list[Notification]:
        """What to send now: `notification` if the limits allow, else nothing (it waits, or is a duplicate)."""
        now = self._clock()
        self._forget(now)
        if notification.identity in self._sent_identities:
            return []
        if self._allowed(notification.kind, now):
            self._waiting.pop(notification.kind, None)
            self._record(notification, now)
            return [notification]
        self._waiting.pop(notification.kind, None)  # re-insert: arrival order is the order of release
        self._waiting[notification.kind] = notification
        return []

    def due(self) -> list[Notification]:
        """Waiting notifications the limits now allow, oldest first; they count as sent."""
        now = self._clock()
        self._forget(now)
        released = []
        for kind, notification in list(self._waiting.items()):
            if notification.identity in self._sent_identities:
                del self._waiting[kind]
            elif self._allowed(kind, now):
                del self._waiting[kind]
                self._record(notification, now)
                released.append(notification)
        return released

    def next_due(self) -> float | None:
        """When (clock time) a waiting notification may go out next, or None if none waits."""
        if not self._waiting:
            return None
        global_free = (
            self._sent_times[0] + 60.0 if len(self._sent_times) >= self._per_minute else self._clock()
        )
        return min(
            max(self._last_by_kind.get(kind, -1e18) + self._per_kind_interval, global_free)
            for kind in self._waiting
        )

    @property
    def waiting(self) -> list[Notification]:
        return list(self._waiting.values())

    def _allowed(self, kind: str, now: float) -> bool:
        last = self._last_by_kind.get(kind)
        if last is not None and now - last < self._per_kind_interval:
            return False
        return len(self._sent_times) < self._per_minute

    def _record(self, notification: Notification, now: float) -> None:
        self._last_by_kind[notification.kind] = now
        self._sent_times.append(now)
        self._sent_identities[notification.identity] = now

    def _forget(self, now: float) -> None:
        while self._sent_times and now - self._sent_times[0] >= 60.0:
            self._sent_times.popleft()
        for identity, sent in list(self._sent_identities.items()):
            if now - sent >= self._dedup_window:
                del self._sent_identities[identity]


class Backend(Protocol):
    """The part of desktop-notifier's `DesktopNotifier` we use (a fake in tests)."""

    async def send(self, title: str, message: str, buttons: Sequence[Any] = ()) -> Any: ...


def desktop_notifier_backend(icon: Path | None) -> Backend:
    """desktop-notifier's notifier, with our buttons converted to its `Button`s."""
    from desktop_notifier import Button as NativeButton
    from desktop_notifier import DesktopNotifier, Icon

    native = DesktopNotifier(app_name=APP_NAME, app_icon=Icon(path=icon) if icon is not None else None)

    class _Native:
        async def send(self, title: str, message: str, buttons: Sequence[Any] = ()) -> Any:
            converted = [NativeButton(title=label, on_pressed=callback) for label, callback in buttons]
            return await native.send(title=title, message=message, buttons=converted)

    return _Native()


class DesktopNotifications:
    """A `Notifier` on desktop-notifier, on its own asyncio loop in the `tray-notifier` daemon thread."""

    def __init__(
        self,
        *,
        icon: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        throttle: Throttle | None = None,
        backend_factory: Callable[[], Backend] | None = None,
    ) -> None:
        self._clock = clock
        self._throttle = throttle or Throttle(clock)
        self._factory = backend_factory or (lambda: desktop_notifier_backend(icon))
        self._backend: Backend | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._failures: set[str] = set()
        self._sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tray-notifier", daemon=True)
        self._thread.start()

    def notify(self, title: str, message: str, buttons: Sequence[Button] = (), *, kind: str) -> None:
        notification = Notification(kind, title, message, tuple(buttons))
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._offer(notification), self._loop)

    @property
    def sent(self) -> int:
        """How many notifications went out to the backend (successfully or not)."""
        return self._sent

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until everything submitted so far has been offered and sent (tests, shutdown)."""
        asyncio.run_coroutine_threadsafe(self._idle(), self._loop).result(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    # -- on the loop -------------------------------------------------------------------------------------

    async def _offer(self, notification: Notification) -> None:
        for ready in self._throttle.offer(notification):
            await self._send(ready)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self._throttle.next_due()
        if when is not None:
            self._timer = self._loop.call_later(max(0.0, when - self._clock()), self._release)

    def _release(self) -> None:
        self._timer = None
        for ready in self._throttle.due():
            self._loop.create_task(self._send(ready))
        self._schedule()

    async def _send(self, notification: Notification) -> None:
        self._sent += 1
        buttons = [(label, _guarded(label, callback)) for label, callback in notification.buttons]
        try:
            if self._backend is None:
                self._backend = self._factory()
            await self._backend.send(notification.title, notification.message, buttons)
        except Exception as exc:  # no notification server, D-Bus gone...: logged once per cause, app goes on
            cause = type(exc).__name__
            if cause not in self._failures:
                self._failures.add(cause)
                log.warning("notification %r not shown: %s: %s", notification.title, cause, exc)

    async def _idle(self) -> None:
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks(self._loop) if t is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _guarded(label: str, callback: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            callback()
        except Exception:  # a failing button must not kill the notifier's loop; logged with its traceback
            log.exception("notification button %r failed", label)

    return run
