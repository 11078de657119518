"""The real tray, end to end: `ccproxy tray` in the desktop session, with a real proxy on the fake provider.

One tray process serves the module (starting the proxy takes tens of seconds); it is started together with a
second one, which must say that a tray already runs and exit. The tests run in file order, as a person would
use it: the icon docks and its menu opens; the Model menu switches the model the next request goes to; a
budget crossing becomes a notification with a "Switch to" button; a proxy stopped from outside is announced and
restarted; a proxy killed (`kill -9`) under streaming load is announced and restarted, its clients get errors
rather than hanging and the ledger stays intact; a provider added from the Providers menu has its key typed in a
terminal window and lands in the keyring; Quit stops the proxy the tray started. Screenshots for docs/desktop.md are saved on the
way (docs/images/). Run: `bash tests/desktop-session.sh python3 -m pytest tests/desktop -q`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import anthropic
import httpx
import pytest
from PIL import Image

from ccproxy_desktop.auth.store import SERVICE_NAME
from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.config.override import OverrideFile
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.dashboard import PREFIX as DASHBOARD_PREFIX
from ccproxy_desktop.desktop.icons import FILL
from ccproxy_desktop.desktop.launch import ALREADY_RUNNING
from ccproxy_desktop.desktop.poller import switchable_models
from ccproxy_desktop.pipeline.router import ModelChoice
from ccproxy_desktop.providers.presets import PRESETS
from ccproxy_desktop.proxy.control import ProxyControl, ProxyState
from ccproxy_desktop.proxy.keys import read_master_key
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import (
    Behaviour,
    FakeProvider,
    UsageOverride,
    unified_ratelimit_headers,
)
from ccproxy_desktop.testing.helpers import ledger_ids, ledger_integrity, proxy_processes

if TYPE_CHECKING:
    from conftest import Box, BusMonitor, Desktop

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
APP_ID = "ccproxy-desktop"  # the tray's GTK program name: its menus' WM_CLASS
PROXY_START_S = 150.0  # LiteLLM's import takes 20-40 s on a small machine, more under load
TRAY_START_S = 30.0
REQUESTED = "claude-sonnet-5"  # matches no rule: the switch decides where it goes
SWITCH_TO = "think"  # the model the menu test picks: the dearest, so the budget test offers a cheaper one

# USD per million tokens. The daily budget of $1 is crossed by one `think` request of 20,000 output tokens.
PRICING = {
    "default": {"input": 3.0, "output": 15.0},
    "think": {"input": 15.0, "output": 75.0},
    "background": {"input": 1.0, "output": 5.0},
}


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
class Tray:
    """The `ccproxy tray` process under test and the world around it."""

    process: subprocess.Popen[bytes]
    output: Path
    paths: ConfigPaths
    provider: FakeProvider
    second: subprocess.Popen[bytes]  # the tray started at the same time, which found this one running
    second_output: Path

    @property
    def control(self) -> ProxyControl:
        return ProxyControl(self.paths)

    def alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"the tray exited with {code}:\n{self.output.read_text()[-3000:]}"

    def healthy_proxy(self) -> ProxyState | None:
        self.alive()
        state = self.control.state()
        return state if state is not None and self.control.healthy(state.url, timeout=1.0) else None

    def client(self) -> anthropic.Anthropic:
        state = poll(self.healthy_proxy, "the proxy to answer", PROXY_START_S)
        key = read_master_key(self.paths)  # the keyring holds it in this session, else master.key
        assert key, "no master key"
        return anthropic.Anthropic(base_url=state.url, api_key=key, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def tray_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tray]:
    folder = tmp_path_factory.mktemp("tray")
    with FakeProvider() as provider:
        paths = write_fake_config(
            folder / "config",
            provider.base_url,
            free_port(),
            ccproxy={
                "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
                "rules": [
                    {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}
                ],
                "pricing": PRICING,
                "budgets": [{"name": "daily", "limit_usd": 1.0, "period": "day"}],
            },
        )
        assert ProxyControl(paths).state() is None  # the tray must start its own proxy
        outputs = [folder / "tray-a.log", folder / "tray-b.log"]
        processes = []
        for output in outputs:  # two trays at once, as a double click on the launcher does
            with output.open("wb") as sink:
                processes.append(_launch_tray(paths, sink))
        try:
            poll(
                lambda: any(p.poll() is not None for p in processes),
                "one of two trays started at once to exit",
                TRAY_START_S,
            )
            second = next(i for i, p in enumerate(processes) if p.poll() is not None)
            first = 1 - second
            yield Tray(processes[first], outputs[first], paths, provider, processes[second], outputs[second])
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()  # quits cleanly: stops the proxy it started
                    process.wait(timeout=60)
            ProxyControl(paths).stop()  # whatever is left, e.g. after a failure mid-test


def _launch_tray(paths: ConfigPaths, sink: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "ccproxy_desktop.cli.main",
        "--config-dir",
        str(paths.config_dir),
        "tray",
    ]
    # The "browser" is a script that records the URL it is asked to open (the Dashboard item).
    browser = paths.config_dir.parent / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {paths.config_dir.parent / "browser.log"}\n')
    browser.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "BROWSER": f"{browser} %s"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)


@pytest.fixture
def tray(tray_process: Tray, desktop: Desktop) -> Tray:
    """The tray, docked and with its proxy answering."""
    poll(tray_process.healthy_proxy, "the proxy the tray started to answer", PROXY_START_S)
    icon_pixels(desktop, tray_process, ("running", "warning"))  # warning: past a budget alert
    return tray_process


def icon_pixels(desktop: Desktop, tray: Tray, kinds: tuple[str, ...] = ("running",)) -> list[tuple[int, int]]:
    """The icon's pixels in the tray area, once it shows one of `kinds` (its disc is drawn in FILL[kind])."""

    def docked() -> list[tuple[int, int]] | None:
        tray.alive()
        shot = desktop.screenshot(tray.output.with_name("screen.png"))
        area = desktop.tray_area()
        for kind in kinds:
            pixels = desktop.pixels_of_colour(shot, FILL[kind], area)  # type: ignore[index]
            if len(pixels) >= 40:
                return pixels
        return None

    return desktop.wait_until(docked, f"the {'/'.join(kinds)} icon in the tray", timeout=TRAY_START_S)


def centre(pixels: list[tuple[int, int]]) -> tuple[int, int]:
    return sum(x for x, _ in pixels) // len(pixels), sum(y for _, y in pixels) // len(pixels)


def open_menu(desktop: Desktop, tray: Tray) -> list[Box]:
    desktop.click(centre(icon_pixels(desktop, tray, ("running", "warning"))), button=3)
    return desktop.wait_until(lambda: desktop.windows(APP_ID), "the tray menu to open")


def menu_closed(desktop: Desktop) -> bool:
    return not desktop.windows(APP_ID)


def save_crop(desktop: Desktop, tray: Tray, boxes: list[Box], name: str, margin: int = 12) -> Path:
    """A screenshot of the region around `boxes` (and the tray icon), for the docs."""
    shot = desktop.screenshot(tray.output.with_name(f"full-{name}"))
    area = desktop.tray_area()
    left = max(min(b.left for b in [*boxes, area]) - margin, 0)
    top = max(min(b.top for b in [*boxes, area]) - margin, 0)
    right = min(max(b.right for b in [*boxes, area]) + margin, shot.width)
    bottom = min(max(b.bottom for b in [*boxes, area]) + margin, shot.height)
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = IMAGES / name
    shot.crop((left, top, right, bottom)).save(target, optimize=True)
    return target


def test_of_two_trays_started_at_once_one_runs_and_the_other_says_so(tray: Tray) -> None:
    assert tray.second.returncode == 0
    assert tray.second_output.read_text().strip() == ALREADY_RUNNING
    state = tray.control.state()
    assert state is not None
    assert proxy_processes(tray.paths) == [state.pid]  # one proxy, started by the tray that runs


def test_the_icon_docks_and_its_menu_opens(tray: Tray, desktop: Desktop) -> None:
    state = tray.control.state()
    assert state is not None
    # `ccproxy tray` handed over to the lean tray process (same pid), whose GTK skipped OpenGL (Mesa, LLVM).
    cmdline = Path(f"/proc/{tray.process.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"ccproxy_desktop.desktop"]
    assert b"libLLVM" not in Path(f"/proc/{tray.process.pid}/maps").read_bytes()
    pixels = icon_pixels(desktop, tray)
    area = desktop.tray_area()
    assert all(area.left <= x < area.right and area.top <= y < area.bottom for x, y in pixels)

    menus = open_menu(desktop, tray)
    desktop.press("Down", "Right")  # into the Model menu: it opens on "Auto (rules)"
    menus = desktop.wait_until(
        lambda: len(desktop.windows(APP_ID)) == 2 and desktop.windows(APP_ID), "the submenu"
    )
    path = save_crop(desktop, tray, menus, "tray-menu.png")
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200
    desktop.press("Escape", "Escape")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close")


def test_the_model_menu_switches_the_model_of_the_next_request(tray: Tray, desktop: Desktop) -> None:
    models = ["Auto (rules)", *switchable_models(load_settings(tray.paths))]
    open_menu(desktop, tray)
    desktop.press("Down", "Right")  # the Model menu, opened on its first item
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 2, "the Model submenu")
    desktop.press(*["Down"] * models.index(SWITCH_TO), "Return")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close after the choice")

    override = OverrideFile(tray.paths.model_override_file)
    desktop.wait_until(
        lambda: override.read() == ModelChoice(SWITCH_TO), f"the switch to {SWITCH_TO} to be written"
    )
    tray.provider.clear()
    tray.client().messages.create(
        model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": "hello"}]
    )
    [request] = tray.provider.requests
    assert isinstance(request.json, dict)
    assert request.json["model"] == "claude-opus-4-8"  # `think`'s provider model, not the one asked for


def test_route_to_sends_a_rules_requests_to_another_model(tray: Tray, desktop: Desktop) -> None:
    open_menu(desktop, tray)
    desktop.press("Down", "Down", "Right")  # Route to: its rules, opened on "default"
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 2, "the Route to submenu")
    desktop.press("Down", "Right")  # background: the models it can go to, opened on "default"
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 3, "the background rule's models")
    desktop.press("Return")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close after the choice")

    def routed() -> bool:
        entries = load_settings(tray.paths).litellm.model_list
        background = next(e for e in entries if e.model_name == "background")
        return background.is_alias and background.target == "default"

    desktop.wait_until(routed, "config.yaml to route background to default")

    # The proxy reloads the file: Claude Code's background (haiku) requests now reach default's model.
    def served_by_default() -> bool:
        tray.provider.clear()
        tray.client().messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "bg"}]
        )
        [request] = tray.provider.requests
        return isinstance(request.json, dict) and request.json["model"] == "claude-sonnet-5"

    desktop.wait_until(served_by_default, "a background request served by default's model", timeout=20)


def test_a_budget_crossing_is_a_notification_with_a_cheaper_model_button(
    tray: Tray, desktop: Desktop, notifications_bus: BusMonitor
) -> None:
    assert OverrideFile(tray.paths.model_override_file).read() == ModelChoice(SWITCH_TO)
    tray.provider.scenario.push(Behaviour(usage=UsageOverride(input_tokens=1000, output_tokens=20_000)))
    tray.client().messages.create(
        model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": "spend"}]
    )  # $1.52 of the daily $1.00: 75%, 90% and 100% crossed at once

    call = notifications_bus.wait_for("member=Notify", 'string "Budget daily reached"', timeout=20)
    assert 'string "ccproxy-desktop"' in call  # the app name
    assert 'string "Switch to background"' in call, f"no switch button among the actions:\n{call}"
    assert "spent today" in call  # the alert's own sentence
    shown = desktop.wait_until(lambda: desktop.windows("Dunst"), "dunst to show the notification")
    path = save_crop(desktop, tray, shown, "notification.png")
    assert path.exists()
    # One notification for the three thresholds crossed by one request.
    assert sum("member=Notify" in m and "Budget daily" in m for m in notifications_bus.messages()) == 1


def test_a_subscription_window_past_80_percent_is_a_notification_and_a_menu_line(
    tray: Tray, desktop: Desktop, notifications_bus: BusMonitor
) -> None:
    before = open_menu(desktop, tray)
    desktop.press("Escape")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close")
    # Anthropic's answer to a subscription request carries the limits of its account (issue 12).
    tray.provider.scenario.push(Behaviour(headers=unified_ratelimit_headers({"5h": 0.85, "7d": 0.4})))
    tray.client().messages.create(
        model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": "limits"}]
    )

    call = notifications_bus.wait_for("member=Notify", 'string "Claude 5-hour window at 85%"', timeout=20)
    assert "resets" in call

    # The menu grew by the window lines ("5-hour window: 85%, resets 14:00", "7-day window: 40%, ...").
    def height(menus: list[Box]) -> int:
        return menus[0].bottom - menus[0].top

    after = open_menu(desktop, tray)
    for _ in range(5):  # the menu is rebuilt by the same poll that notified: at most a moment later
        if height(after) > height(before):
            break
        desktop.press("Escape")
        desktop.wait_until(lambda: menu_closed(desktop), "the menu to close")
        time.sleep(1)
        after = open_menu(desktop, tray)
    assert height(after) > height(before), "no subscription lines in the menu"
    path = save_crop(desktop, tray, after, "tray-subscription.png")
    assert path.exists()
    desktop.press("Escape")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close")
    # Once per window and threshold: the next answer at the same use says nothing new.
    tray.provider.scenario.push(Behaviour(headers=unified_ratelimit_headers({"5h": 0.86, "7d": 0.4})))
    tray.client().messages.create(
        model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": "limits"}]
    )
    time.sleep(3)  # two poll intervals of the tray
    assert sum("Claude 5-hour window" in m for m in notifications_bus.messages()) == 1


def test_the_dashboard_item_opens_the_dashboard_in_the_browser(tray: Tray, desktop: Desktop) -> None:
    opened = tray.paths.config_dir.parent / "browser.log"
    open_menu(desktop, tray)
    desktop.press("Up", "Up", "Return")  # from the bottom: Quit, then Dashboard
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close after the choice")
    [url] = poll(lambda: opened.exists() and opened.read_text().split(), "the browser to be given a URL", 60)
    state = tray.control.state()
    assert state is not None
    assert url.startswith(f"{state.url}{DASHBOARD_PREFIX}/"), url
    # A one-time URL (the token in its fragment) that lets a browser in, once.
    token = url.partition("#")[2].removeprefix("token=")
    with httpx.Client(base_url=state.url, timeout=10) as http:
        assert http.get(f"{DASHBOARD_PREFIX}/api/now").status_code == 401  # no cookie yet
        signed_in = http.post(f"{DASHBOARD_PREFIX}/api/session", json={"token": token})
        assert signed_in.status_code == 200, signed_in.text
        assert http.get(f"{DASHBOARD_PREFIX}/api/now").status_code == 200  # the cookie it set
        again = http.post(f"{DASHBOARD_PREFIX}/api/session", json={"token": token})
        assert again.status_code == 403


def test_a_proxy_stopped_from_outside_is_announced_and_restarted(
    tray: Tray, notifications_bus: BusMonitor
) -> None:
    before = tray.control.state()
    assert before is not None
    stopped = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccproxy_desktop.cli.main",
            "--config-dir",
            str(tray.paths.config_dir),
            "stop",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stopped.returncode == 0, stopped.stderr
    notifications_bus.wait_for("member=Notify", 'string "Proxy down"', timeout=20)

    def restarted() -> ProxyState | None:
        state = tray.healthy_proxy()
        return state if state is not None and state.pid != before.pid else None

    after = poll(restarted, "the tray to restart the proxy", PROXY_START_S)
    assert after.url == before.url
    notifications_bus.wait_for("member=Notify", 'string "Proxy back"', timeout=20)
    tray.client().messages.create(
        model=REQUESTED, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )


# A stream cut mid-body surfaces as the HTTP library's RemoteProtocolError; a request after the kill as the
# SDK's APIConnectionError.
CONNECTION_ERRORS = {"RemoteProtocolError", "APIConnectionError", "ReadError"}


def test_a_proxy_killed_under_load_is_restarted_its_clients_fail_fast_and_the_ledger_is_intact(
    tray: Tray, notifications_bus: BusMonitor
) -> None:
    before = tray.healthy_proxy()
    assert before is not None
    tray.provider.scenario.set_default(Behaviour(chunk_delay_ms=20))  # streams last a while: some in flight
    client = tray.client()
    completed: list[tuple[str, float]] = []  # (call id, when the client had the whole stream)
    failed: list[tuple[str, float]] = []  # (error type, when the client got it)
    killed = threading.Event()

    def stream_requests() -> None:
        while not killed.is_set():
            try:
                with client.messages.stream(
                    model=REQUESTED, max_tokens=64, messages=[{"role": "user", "content": "load"}]
                ) as stream:
                    stream.until_done()
                    call_id = stream.response.headers["x-ccproxy-request-id"]
            except Exception as exc:  # what the SDK raises mid-stream depends on its HTTP library: see below
                failed.append((type(exc).__name__, time.time()))
                continue
            completed.append((call_id, time.time()))

    clients = [threading.Thread(target=stream_requests, name=f"load-{i}") for i in range(6)]
    for thread in clients:
        thread.start()
    poll(lambda: len(completed) >= 60, "60 streamed requests before the kill", 120)
    killed_at = time.time()
    os.killpg(before.pid, signal.SIGKILL)  # the proxy and any workers: its own process group
    killed.set()
    for thread in clients:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in clients), "a client hung on the killed proxy"
    in_flight = [(kind, at) for kind, at in failed if at >= killed_at]
    assert in_flight, "no request was in flight at the kill"
    assert {kind for kind, _ in failed} <= CONNECTION_ERRORS, failed  # a cut connection, not a timeout
    assert max(at for _, at in in_flight) - killed_at < 10, f"errors came late: {in_flight}"

    def restarted() -> ProxyState | None:
        state = tray.healthy_proxy()
        return state if state is not None and state.pid != before.pid else None

    poll(restarted, "the tray to restart the killed proxy", PROXY_START_S)
    down = notifications_bus.wait_for("member=Notify", 'string "Proxy down"', timeout=90)  # throttled: 60 s
    assert f"pid {before.pid}" in down
    # No "Proxy back" to wait for: its text is the one the test above saw, and the same text is not shown
    # twice within 10 minutes.

    assert ledger_integrity(tray.paths) == "ok"
    must_have = {call_id for call_id, done in completed if done < killed_at - 1.0}
    missing = must_have - ledger_ids(tray.paths)
    assert not missing, (
        f"{len(missing)} of {len(must_have)} requests completed before the kill are not in the ledger"
    )
    tray.provider.scenario.reset()
    tray.client().messages.create(
        model=REQUESTED, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )


def _typing_at_a_hidden_prompt(command: bytes) -> str | None:
    """The terminal of the process running `command`, once it reads with echo off (getpass's prompt)."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if command not in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "):
                continue
            tty = os.readlink(f"/proc/{pid}/fd/0")
        except OSError:
            continue
        if not tty.startswith("/dev/pts/"):
            continue
        modes = subprocess.run(["stty", "-a", "-F", tty], capture_output=True, text=True, check=False).stdout
        if " -echo " in f" {modes} ":
            return tty
    return None


def test_adding_a_provider_from_the_tray_asks_its_key_in_a_terminal(
    tray: Tray, desktop: Desktop, notifications_bus: BusMonitor
) -> None:
    key = "sk-deepseek-typed-in-the-terminal"
    presets = [p.name for p in PRESETS]
    open_menu(desktop, tray)
    desktop.press("Down", "Down", "Down", "Right")  # Providers: none added yet, it opens on "Add"
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 2, "the Providers submenu")
    desktop.press("Right")  # Add: the presets, opened on the first
    menus = desktop.wait_until(
        lambda: len(desktop.windows(APP_ID)) == 3 and desktop.windows(APP_ID), "the Add submenu"
    )
    save_crop(desktop, tray, menus, "tray-providers.png")
    desktop.press(*["Down"] * presets.index("deepseek"), "Return")  # "DeepSeek…"
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close after the choice")

    # A terminal window (the desktop's x-terminal-emulator) runs `ccproxy provider add deepseek`: its key
    # prompt is hidden, and the key is typed there, never into the tray.
    [window] = desktop.wait_until(lambda: desktop.windows("xterm"), "a terminal window", timeout=20)
    desktop.wait_until(
        lambda: _typing_at_a_hidden_prompt(b"provider add deepseek"), "the hidden key prompt", timeout=60
    )
    x, y = window.centre
    subprocess.run(["xdotool", "mousemove", str(x), str(y)], check=True)  # focus follows the pointer
    subprocess.run(["xdotool", "type", "--delay", "20", key], check=True)
    desktop.press("Return")

    def added() -> list[str]:
        return [n for n in load_settings(tray.paths).litellm.model_names() if n.startswith("deepseek/")]

    models = desktop.wait_until(added, "config.yaml to have the DeepSeek models", timeout=30)
    stored = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE_NAME, "username", "deepseek"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(stored.stdout)["access_token"] == key  # the OS keyring has it
    text = tray.paths.litellm_yaml.read_text()
    assert key not in text and "api_key: keyring/deepseek" in text
    desktop.press("Return")  # "Press Enter to close this window."
    desktop.wait_until(lambda: not desktop.windows("xterm"), "the terminal window to close")
    # The tray shows nothing outside its menu that says it re-read config.yaml: wait past one of its poll
    # intervals (2 s), as the subscription test does, before opening the menu on the new Providers items.
    time.sleep(3)

    # The tray's Providers menu now has deepseek; its Remove… asks first, in a notification with a button.
    open_menu(desktop, tray)
    desktop.press("Down", "Down", "Down", "Right")
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 2, "the Providers submenu")
    desktop.press("Right")  # deepseek: Test, Remove…
    desktop.wait_until(lambda: len(desktop.windows(APP_ID)) == 3, "deepseek's submenu")
    desktop.press("Down", "Return")
    desktop.wait_until(lambda: menu_closed(desktop), "the menu to close after the choice")
    call = notifications_bus.wait_for("member=Notify", 'string "Remove deepseek?"', timeout=20)
    assert 'string "Remove"' in call and models[0] in call
    assert added() == models  # asked, not yet removed
    cli = [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(tray.paths.config_dir)]
    removed = subprocess.run(
        [*cli, "provider", "remove", "deepseek"],
        capture_output=True,
        text=True,
        check=False,
    )  # what the button runs; dunst's buttons are not clickable from here
    assert removed.returncode == 0, removed.stderr


def test_quit_stops_the_proxy_the_tray_started(tray: Tray, desktop: Desktop) -> None:
    open_menu(desktop, tray)
    desktop.press("Up", "Return")  # from the bottom: Quit
    assert tray.process.wait(timeout=60) == 0, tray.output.read_text()[-3000:]
    assert tray.control.state() is None
