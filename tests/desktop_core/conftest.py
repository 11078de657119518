"""Fakes for the tray's core: a clock, a proxy port, a notifier, toggles, an opener and an icon, and a TrayApp
wired to them with a real config folder and a real ledger in tmp_path. No display, no D-Bus, no proxy process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.desktop.app import TrayApp, TrayServices
from ccproxy_desktop.desktop.notifier import Button
from ccproxy_desktop.desktop.terminal import NoTerminal
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.proxy.control import ProxyState, StartFailed
from ccproxy_desktop.testing.configs import write_fake_config

# USD per million tokens: `think` costs most, `background` least; `default` sits between.
PRICING = {
    "default": {"input": 3.0, "output": 15.0},
    "think": {"input": 15.0, "output": 75.0},
    "background": {"input": 1.0, "output": 5.0},
}
BUDGETS = [
    {"name": "daily", "limit_usd": 10.0, "period": "day"},
    {"name": "monthly", "limit_usd": 100.0, "period": "month"},
    {"name": "thinking", "limit_usd": 5.0, "period": "week", "model": "think"},
]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeProxy:
    """A `ProxyPort` over an imaginary proxy process: tests crash it, hang it, or script its starts."""

    def __init__(self) -> None:
        self.running: ProxyState | None = None
        self.answering = True
        self.state_file_lost = False  # the config folder was deleted: the proxy runs, its state file is gone
        # Each start pops one and fails with it (a message, or a StartFailed as is), while any are left.
        self.start_failures: list[str | StartFailed] = []
        self.calls: list[str] = []
        self._next_pid = 100

    def launch(self, url: str = "http://127.0.0.1:4000") -> ProxyState:
        """A proxy appears (started by `ccproxy start` or by our start)."""
        self._next_pid += 1
        self.running = ProxyState(self._next_pid, url, 0.0, "/cfg")
        self.answering = True
        return self.running

    def crash(self) -> None:
        self.running = None

    def state(self) -> ProxyState | None:
        return None if self.state_file_lost else self.running

    def healthy(self, url: str) -> bool:
        return self.running is not None and self.answering

    def start(self) -> ProxyState:
        self.calls.append("start")
        if self.start_failures:
            failure = self.start_failures.pop(0)
            raise failure if isinstance(failure, StartFailed) else StartFailed(failure)
        return self.launch()

    def stop(self) -> ProxyState | None:
        self.calls.append("stop")
        stopped, self.running = self.running, None
        return stopped


@dataclass
class Sent:
    kind: str
    title: str
    message: str
    buttons: list[Button]

    def press(self, label: str) -> None:
        next(callback for text, callback in self.buttons if text == label)()

    @property
    def labels(self) -> list[str]:
        return [text for text, _ in self.buttons]


@dataclass
class RecordingNotifier:
    sent: list[Sent] = field(default_factory=list)
    closed: bool = False

    def notify(self, title: str, message: str, buttons: Sequence[Button] = (), *, kind: str) -> None:
        self.sent.append(Sent(kind, title, message, list(buttons)))

    def close(self) -> None:
        self.closed = True

    def kinds(self) -> list[str]:
        return [s.kind for s in self.sent]


@dataclass
class FakeToggle:
    on: bool = False
    fail_with: Exception | None = None

    def is_on(self) -> bool:
        return self.on

    def turn_on(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.on = True

    def turn_off(self) -> None:
        self.on = False


@dataclass
class RecordingOpener:
    opened: list[Path] = field(default_factory=list)

    def open(self, path: Path) -> None:
        self.opened.append(path)


@dataclass
class RecordingTerminal:
    """The terminal window a provider's key is typed in: records the command; `missing` plays a desktop
    without one."""

    commands: list[list[str]] = field(default_factory=list)
    missing: bool = False

    def run(self, command: list[str], title: str, typed: str, env: dict[str, str] | None = None) -> None:
        if self.missing:
            raise NoTerminal(f"No terminal program was found. Run `{typed}` in a terminal.")
        self.commands.append(command)


@dataclass
class FakeIcon:
    images: list[Image.Image] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    menu_refreshes: int = 0
    stopped: bool = False

    def set_image(self, image: Image.Image) -> None:
        self.images.append(image)

    def set_title(self, title: str) -> None:
        self.titles.append(title)

    def refresh_menu(self) -> None:
        self.menu_refreshes += 1

    def run(self, setup: Callable[[], None]) -> None:
        """Runs nothing: the test drives the app (threads are not started)."""

    def stop(self) -> None:
        self.stopped = True


@dataclass
class World:
    """A TrayApp on fakes, with a real config folder and ledger."""

    app: TrayApp
    paths: ConfigPaths
    ledger: Ledger
    proxy: FakeProxy
    notifier: RecordingNotifier
    shell: FakeToggle
    autostart: FakeToggle
    opener: RecordingOpener
    clock: FakeClock
    icon: FakeIcon
    terminal: RecordingTerminal


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_proxy() -> FakeProxy:
    return FakeProxy()


@pytest.fixture
def config_paths(tmp_path: Path) -> ConfigPaths:
    return write_fake_config(
        tmp_path / "config",
        "http://127.0.0.1:9",
        4000,
        ccproxy={
            "hooks": ["rule_evaluator", "model_router"],
            "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
            "pricing": PRICING,
            "budgets": BUDGETS,
        },
    )


@pytest.fixture
def world(config_paths: ConfigPaths, fake_proxy: FakeProxy, clock: FakeClock) -> Iterator[World]:
    ledger = Ledger(config_paths.ledger_db)
    notifier = RecordingNotifier()
    shell, autostart, opener = FakeToggle(), FakeToggle(), RecordingOpener()
    terminal = RecordingTerminal()
    services = TrayServices(fake_proxy, ledger, notifier, opener, shell, autostart, terminal=terminal)
    app = TrayApp(config_paths, services, clock=clock, supervisor_options={"check_interval": 3.0})
    icon = FakeIcon()
    yield World(
        app, config_paths, ledger, fake_proxy, notifier, shell, autostart, opener, clock, icon, terminal
    )
    ledger.close()


@pytest.fixture
def started(world: World) -> World:
    """The world after the app's first poll, with the fake icon attached (the app is not shut down)."""
    world.app.poller.prime()
    world.app.poller.poll()
    world.app.attach(world.icon)
    return world
