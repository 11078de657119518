"""The desktop tests' world: a private desktop session and the means to look at it and act on it like a person.

These tests drive real desktop components (Xvfb, trayer, dunst, gnome-keyring on a private D-Bus session bus)
that tests/desktop-session.sh starts; outside that session they fail rather than skip, so that a run that
forgot the session cannot pass by testing nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image

SESSION_VARIABLE = "CCPROXY_DESKTOP_SESSION"
COMMAND_TIMEOUT_S = 10.0

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _inside_desktop_session() -> None:
    if os.environ.get(SESSION_VARIABLE) != "1":
        pytest.fail(
            "the desktop tests need the private desktop session (X server, tray, notification server, "
            "keyring): run them as `bash tests/desktop-session.sh python3 -m pytest tests/desktop` "
            "(after `bash installers/deps-debian.sh`)",
            pytrace=False,
        )


def wait_until(predicate: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
    """Polls `predicate` until it returns something truthy and returns that; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def run(*command: str) -> str:
    """Runs one of the X or D-Bus tools and returns its output; fails the test if the tool fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Box:
    """A rectangle on the screen in root-window pixels; `right` and `bottom` are exclusive (PIL's crop box)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre(self) -> tuple[int, int]:
        return (self.left + self.right) // 2, (self.top + self.bottom) // 2


class Desktop:
    """The session's X display, seen through screenshots and driven with xdotool, as a person would."""

    wait_until = staticmethod(wait_until)

    def screenshot(self, path: Path) -> Image.Image:
        run("import", "-window", "root", str(path))
        with Image.open(path) as image:
            return image.convert("RGB")

    def tray_area(self) -> Box:
        """Where trayer (the system tray) is: docked icons appear inside it."""
        info = run("xwininfo", "-name", "panel")
        fields = {
            key: int(value)
            for key, value in re.findall(
                r"^\s*(Absolute upper-left [XY]|Width|Height):\s*(-?\d+)", info, re.MULTILINE
            )
        }
        left, top = fields["Absolute upper-left X"], fields["Absolute upper-left Y"]
        return Box(left, top, left + fields["Width"], top + fields["Height"])

    def windows(self, wm_instance: str) -> list[Box]:
        """The mapped top-level windows whose WM_CLASS instance is `wm_instance` (a popup menu, a notification).

        A GTK program's instance name is its prgname (`GLib.set_prgname`); an icon docked in the tray is not a
        top-level window (trayer reparents it), so it is not listed.
        """
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--maxdepth", "1", "--classname", f"^{wm_instance}$"],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        boxes = []
        for window in found.stdout.split():
            geometry = subprocess.run(
                ["xdotool", "getwindowgeometry", "--shell", window],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            if geometry.returncode != 0:  # the window went away meanwhile
                continue
            values = dict(line.split("=", 1) for line in geometry.stdout.split())
            left, top = int(values["X"]), int(values["Y"])
            boxes.append(Box(left, top, left + int(values["WIDTH"]), top + int(values["HEIGHT"])))
        return boxes

    @staticmethod
    def pixels_of_colour(
        image: Image.Image, colour: tuple[int, int, int], area: Box
    ) -> list[tuple[int, int]]:
        """The screen positions inside `area` whose pixel is exactly `colour`."""
        pixel = image.load()
        assert pixel is not None
        return [
            (x, y)
            for y in range(max(area.top, 0), min(area.bottom, image.height))
            for x in range(max(area.left, 0), min(area.right, image.width))
            if pixel[x, y] == colour
        ]

    def click(self, position: tuple[int, int], button: int = 1) -> None:
        """Moves the pointer to `position` and clicks `button` (1 left, 2 middle, 3 right)."""
        run("xdotool", "mousemove", str(position[0]), str(position[1]), "click", str(button))

    def press(self, *keys: str) -> None:
        """Types keys (X keysym names such as Down, Return) into whatever has the keyboard focus or grab."""
        run("xdotool", "key", "--delay", "50", *keys)


@pytest.fixture
def desktop() -> Desktop:
    return Desktop()


class BusMonitor:
    """`dbus-monitor` on the session bus: collects the messages that match a rule, as dbus-monitor prints them."""

    def __init__(self, match_rule: str) -> None:
        self._process = subprocess.Popen(
            ["dbus-monitor", "--session", match_rule], stdout=subprocess.PIPE, text=True
        )
        self._messages: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="dbus-monitor-reader", daemon=True)
        self._reader.start()
        # Its first message (NameAcquired) says it is connected and sees the traffic from now on.
        wait_until(lambda: self.messages(), "dbus-monitor to connect to the session bus")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                # Continuation lines (arguments) are indented; a message starts at the left margin.
                if line[:1].isspace() and self._messages:
                    self._messages[-1] += line
                else:
                    self._messages.append(line)

    def messages(self) -> list[str]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, *fragments: str, timeout: float = 10.0) -> str:
        """Waits for a message containing every fragment and returns it."""

        def matching() -> str | None:
            return next((m for m in self.messages() if all(f in m for f in fragments)), None)

        return wait_until(matching, f"a D-Bus message with {fragments}", timeout)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=COMMAND_TIMEOUT_S)
        self._reader.join(timeout=COMMAND_TIMEOUT_S)


@pytest.fixture
def notifications_bus() -> Iterator[BusMonitor]:
    """Every message of the org.freedesktop.Notifications interface from now on (Notify, ActionInvoked...)."""
    monitor = BusMonitor("interface='org.freedesktop.Notifications'")
    yield monitor
    monitor.close()


@pytest.fixture
def notifier_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop on its own thread, as the app runs desktop-notifier: submit with run_coroutine_threadsafe."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="notifier-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=COMMAND_TIMEOUT_S)
    loop.close()
