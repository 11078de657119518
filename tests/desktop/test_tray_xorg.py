"""The tray in a Python without PyGObject (a venv, pyenv, pipx): pystray's xorg backend, end to end.

`ccproxy tray` runs in the desktop session with `gi` made unimportable (a sitecustomize on PYTHONPATH blocks it,
as if PyGObject were not installed), so the backend choice falls to xorg. It must stay up (the title's "…" once
crashed python-xlib's Latin-1 `set_wm_name`), dock its icon in the tray, run the proxy (a request goes through it
to the fake provider), say once in its log and in a notification how to get the menu, open the dashboard on a
left click (the browser is a script that records the URL it was given), and quit cleanly on SIGTERM.
Run: `bash tests/desktop-session.sh python3 -m pytest tests/desktop/test_tray_xorg.py -q`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anthropic
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.dashboard import PREFIX
from ccproxy_desktop.desktop.icons import FILL
from ccproxy_desktop.proxy.control import ProxyControl, ProxyState
from ccproxy_desktop.proxy.keys import read_master_key
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider

if TYPE_CHECKING:
    from conftest import Desktop

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
PROXY_START_S = 150.0
TRAY_START_S = 30.0
ICON_PIXELS = 20  # of the disc colour: xorg scales the icon into its 24x30 window, blending most of it

BLOCK_GI = """\
import importlib.abc
import sys


class _NoGi(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "gi" or name.startswith("gi."):
            raise ImportError(f"No module named {name!r} (blocked by the test: no PyGObject)")
        return None


sys.meta_path.insert(0, _NoGi())
"""


def poll(predicate: Callable[[], T | None], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class XorgTray:
    process: subprocess.Popen[bytes]
    output: Path
    paths: ConfigPaths
    browser_log: Path
    notifications: Path  # what dbus-monitor saw of org.freedesktop.Notifications

    def notify_calls(self, fragment: str) -> list[str]:
        text = self.notifications.read_text(errors="replace")
        return [m for m in re.split(r"\n(?=\S)", text) if "member=Notify" in m and fragment in m]

    def alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"the tray exited with {code}:\n{self.output.read_text()[-3000:]}"

    def healthy_proxy(self) -> ProxyState | None:
        self.alive()
        control = ProxyControl(self.paths)
        state = control.state()
        return state if state is not None and control.healthy(state.url, timeout=1.0) else None


@pytest.fixture(scope="module")
def xorg_tray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XorgTray]:
    folder = tmp_path_factory.mktemp("xorg-tray")
    blocker = folder / "no-gi"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_GI)
    browser_log = folder / "browser.log"
    browser = folder / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {browser_log}\n')
    browser.chmod(0o755)
    with FakeProvider() as provider:
        paths = write_fake_config(folder / "config", provider.base_url, free_port())
        bus_log = folder / "notifications.log"
        with bus_log.open("wb") as bus_sink:
            monitor = subprocess.Popen(
                ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"], stdout=bus_sink
            )
        poll(lambda: bus_log.stat().st_size > 0, "dbus-monitor to connect (its NameAcquired)", 10)
        output = folder / "tray.log"
        env = {k: v for k, v in os.environ.items() if k not in ("PYSTRAY_BACKEND", "GDK_GL")}
        env.update(
            PYTHONPATH=f"{blocker}{os.pathsep}{REPO}",
            PYTHONUNBUFFERED="1",
            BROWSER=f"{browser} %s",
        )
        command = [
            sys.executable,
            "-m",
            "ccproxy_desktop.cli.main",
            "--config-dir",
            str(paths.config_dir),
            "tray",
        ]
        with output.open("wb") as sink:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            yield XorgTray(process, output, paths, browser_log, bus_log)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
            ProxyControl(paths).stop()
            monitor.terminate()
            monitor.wait(timeout=10)


def test_the_blocker_really_hides_pygobject(xorg_tray: XorgTray) -> None:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env["PYTHONPATH"] = f"{xorg_tray.output.parent / 'no-gi'}{os.pathsep}{REPO}"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ccproxy_desktop.desktop.backend import choose_backend; import os;"
            "print(choose_backend({'DISPLAY': os.environ['DISPLAY']}))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "xorg", done.stderr


def test_it_stays_up_docks_its_icon_and_runs_the_proxy(xorg_tray: XorgTray, desktop: Desktop) -> None:
    state = poll(xorg_tray.healthy_proxy, "the proxy the xorg tray started to answer", PROXY_START_S)

    def docked() -> list[tuple[int, int]] | None:
        xorg_tray.alive()
        shot = desktop.screenshot(xorg_tray.output.with_name("screen.png"))
        pixels = desktop.pixels_of_colour(shot, FILL["running"], desktop.tray_area())
        return pixels if len(pixels) >= ICON_PIXELS else None

    desktop.wait_until(docked, "the running icon of the xorg tray in the tray", timeout=TRAY_START_S)
    key = read_master_key(xorg_tray.paths)
    assert key, "no master key"
    client = anthropic.Anthropic(base_url=state.url, api_key=key, max_retries=0, timeout=60)
    reply = client.messages.create(
        model="claude-sonnet-5", max_tokens=32, messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.content, reply
    xorg_tray.alive()
    log = xorg_tray.output.read_text()
    assert "UnicodeEncodeError" not in log and "Traceback" not in log, log[-3000:]


def test_it_says_once_how_to_get_the_menu(xorg_tray: XorgTray) -> None:
    call = poll(
        lambda: xorg_tray.notify_calls("the tray icon has no menu"), "the no-menu notification", TRAY_START_S
    )[0]
    assert "python3-gi" in call and "python3-gobject" in call, call
    log = xorg_tray.output.read_text()
    assert log.count("has no menu") == 1, log[-3000:]
    time.sleep(2)
    assert len(xorg_tray.notify_calls("has no menu")) == 1


def test_a_click_on_the_icon_opens_the_dashboard(xorg_tray: XorgTray, desktop: Desktop) -> None:
    poll(xorg_tray.healthy_proxy, "the proxy to answer", PROXY_START_S)
    shot = desktop.screenshot(xorg_tray.output.with_name("click.png"))
    pixels = desktop.pixels_of_colour(shot, FILL["running"], desktop.tray_area())
    assert len(pixels) >= ICON_PIXELS, "the icon is not in the tray"
    centre = sum(x for x, _ in pixels) // len(pixels), sum(y for _, y in pixels) // len(pixels)
    desktop.click(centre, button=1)

    def opened() -> str | None:
        xorg_tray.alive()
        return xorg_tray.browser_log.read_text() if xorg_tray.browser_log.exists() else None

    urls = poll(opened, "the browser to be asked for the dashboard", 60)
    assert f"{PREFIX}" in urls, urls
    assert urls.startswith("http://127.0.0.1:"), urls


def test_sigterm_quits_and_stops_the_proxy(xorg_tray: XorgTray) -> None:
    xorg_tray.alive()
    xorg_tray.process.send_signal(signal.SIGTERM)
    assert xorg_tray.process.wait(timeout=60) == 0, xorg_tray.output.read_text()[-3000:]
    assert ProxyControl(xorg_tray.paths).state() is None
