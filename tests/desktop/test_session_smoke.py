"""Each real component of the desktop session works the way the app will use it.

Run inside the session: `bash tests/desktop-session.sh python3 -m pytest tests/desktop`. These are the
end-to-end checks of the environment itself; when one fails, the app's desktop tests cannot be trusted either.
Run as a script, this file is the tray icon under test (pystray's `run()` must own its process's main thread).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import keyring
from keyring.backends import SecretService

if TYPE_CHECKING:
    from conftest import BusMonitor, Desktop  # tests/desktop/conftest.py, whose fixtures provide them

TRAY_PRGNAME = "ccproxy-smoke-tray"
ICON_COLOUR = (17, 240, 161)  # appears nowhere else on the session's screen
MENU = ("First", "Second", "Quit")
DOCKED_SCREENSHOT = Path(tempfile.gettempdir()) / "tray_smoke.png"


def test_keyring_is_the_unlocked_secret_service() -> None:
    backend = keyring.get_keyring()
    assert isinstance(backend, SecretService.Keyring), f"keyring chose {backend!r}"

    service = f"ccproxy-desktop-smoke-{uuid.uuid4()}"
    keyring.set_password(service, "alice", "s3cret")
    try:
        assert keyring.get_password(service, "alice") == "s3cret"
        # The secret is in gnome-keyring, not in this process: another Secret Service client reads it.
        looked_up = subprocess.run(
            ["secret-tool", "lookup", "service", service, "username", "alice"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert looked_up.stdout == "s3cret"
    finally:
        keyring.delete_password(service, "alice")
    assert keyring.get_password(service, "alice") is None


def test_notification_with_a_button_reaches_dunst_and_reports_the_click(
    desktop: Desktop, notifications_bus: BusMonitor, notifier_loop: asyncio.AbstractEventLoop
) -> None:
    from desktop_notifier import Button, DesktopNotifier

    clicked = threading.Event()
    title = f"Budget reached {uuid.uuid4().hex[:8]}"
    notifier = DesktopNotifier(app_name="ccproxy smoke")
    sent = asyncio.run_coroutine_threadsafe(
        notifier.send(
            title=title,
            message="Daily budget of $5.00 reached",
            buttons=[Button(title="Open dashboard", on_pressed=lambda: None)],
            on_clicked=clicked.set,
        ),
        notifier_loop,
    )
    sent.result(timeout=10)

    call = notifications_bus.wait_for("member=Notify", f'string "{title}"')
    assert 'string "Open dashboard"' in call, f"the button is not among the Notify call's actions:\n{call}"

    # dunst shows it; a middle click is dunst's do_action: it invokes the default action, which
    # desktop-notifier reports as on_clicked. (Buttons other than the default need dunst's dmenu.)
    shown = desktop.wait_until(lambda: desktop.windows("Dunst"), "dunst to show the notification")
    desktop.click(shown[0].centre, button=2)
    assert clicked.wait(timeout=10), "on_clicked did not run after clicking the notification"
    notifications_bus.wait_for("member=ActionInvoked", 'string "default"')

    def history() -> str | None:
        listed = subprocess.run(["dunstctl", "history"], capture_output=True, text=True, timeout=10).stdout
        return listed if title in listed else None

    assert "ccproxy smoke" in desktop.wait_until(history, "the clicked notification in dunst's history")


def test_tray_icon_docks_and_its_menu_runs_actions(desktop: Desktop, tmp_path: Path) -> None:
    actions = tmp_path / "actions.log"
    stderr = tmp_path / "tray-stderr.log"
    with stderr.open("w") as stderr_file:
        icon_process = subprocess.Popen(
            [sys.executable, __file__, str(actions)],
            env={**os.environ, "PYSTRAY_BACKEND": "gtk"},
            stderr=stderr_file,
        )

    def running() -> None:
        assert icon_process.poll() is None, (
            f"the tray icon exited {icon_process.returncode}: {stderr.read_text()}"
        )

    def docked_icon() -> list[tuple[int, int]] | None:
        running()
        shot = desktop.screenshot(tmp_path / "tray.png")
        # Read every time: trayer's width follows its icons (--widthtype request).
        pixels = desktop.pixels_of_colour(shot, ICON_COLOUR, desktop.tray_area())
        return pixels if len(pixels) >= 100 else None

    def menu_open() -> bool:
        running()
        return bool(desktop.windows(TRAY_PRGNAME))

    def recorded() -> list[str]:
        running()
        return actions.read_text().split() if actions.exists() else []

    try:
        pixels = desktop.wait_until(docked_icon, f"the icon's colour {ICON_COLOUR} in the tray")
        shutil.copyfile(tmp_path / "tray.png", DOCKED_SCREENSHOT)
        icon_centre = (
            sum(x for x, _ in pixels) // len(pixels),
            sum(y for _, y in pixels) // len(pixels),
        )

        desktop.click(icon_centre, button=3)
        desktop.wait_until(menu_open, "the icon's menu to open on a right click")
        desktop.press("Down", "Down", "Return")
        assert desktop.wait_until(recorded, "the menu item's action") == ["second"]
        desktop.wait_until(lambda: not menu_open(), "the menu to close")

        desktop.click(icon_centre, button=3)
        desktop.wait_until(menu_open, "the icon's menu to open again")
        desktop.press("Down", "Down", "Down", "Return")
        assert icon_process.wait(timeout=10) == 0, stderr.read_text()
    finally:
        if icon_process.poll() is None:
            icon_process.terminate()
            icon_process.wait(timeout=10)


def run_tray_icon(actions: Path) -> None:
    """A pystray icon with the menu First, Second, Quit: the first two append their name to `actions`."""
    import gi

    gi.require_version("GLib", "2.0")
    from gi.repository import GLib

    # Names the program's X windows (WM_CLASS), so that the test finds its menu among the screen's windows.
    GLib.set_prgname(TRAY_PRGNAME)

    import pystray  # after PYSTRAY_BACKEND is set, and needs DISPLAY
    from PIL import Image

    def record(name: str) -> Callable[[], None]:
        def action() -> None:
            with actions.open("a") as file:
                file.write(name + "\n")

        return action

    def setup(icon: pystray.Icon) -> None:
        icon.visible = True

    menu = pystray.Menu(
        pystray.MenuItem(MENU[0], record("first")),
        pystray.MenuItem(MENU[1], record("second")),
        pystray.MenuItem(MENU[2], lambda icon: icon.stop()),
    )
    icon = pystray.Icon(TRAY_PRGNAME, Image.new("RGB", (64, 64), ICON_COLOUR), "ccproxy smoke", menu)
    icon.run(setup)


if __name__ == "__main__":
    run_tray_icon(Path(sys.argv[1]))
