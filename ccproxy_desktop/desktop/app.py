"""`TrayApp`: the desktop app's state and actions, and the threads that keep them current.

Threads: pystray's loop owns the main thread (`run`); the `tray-supervisor` thread keeps the proxy up; the
`tray-ledger-poller` thread reads spend, budgets, events, config and toggles; the `tray-model-discovery` thread
asks added providers which models they list (for the pickers); the `tray-notifier` thread runs
desktop-notifier's asyncio loop. Menu items and notification buttons call `dispatch`, which runs one action at a
time and never blocks on the proxy: starting and stopping are requests to the supervisor.

State changes (`update`) rebuild the menu entries, a pure function of the state; the icon's image, tooltip
and menu are pushed to pystray only when what they show changed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from ..config.override import OverrideFile
from ..config.paths import ConfigPaths, create_private_file
from ..config.schema import CacheSpec
from ..frozen import module_command
from ..ledger.budgets import period_window
from ..ledger.clock import local_now, local_zone
from ..ledger.store import Ledger
from ..pipeline.router import ModelChoice
from .advice import Advice, AdviceButton, advice_for_proxy
from .backend import NO_MENU_HINT, backend_text
from .discovery import ModelDiscoverer
from .icons import draw_icon
from .menu import ALL_ACTIONS, Action, MenuEntry, build_menu, spend_lines, status_line
from .notifier import Notifier
from .poller import LedgerPoller
from .state import AppState, ProxyStatus
from .supervisor import ProxyPort, Supervisor, Transition
from .terminal import NoTerminal, TerminalLauncher
from .toggles import StatusLineToggle, Toggle

__all__ = ["IconPort", "Opener", "TrayApp", "TrayServices", "tooltip"]

log = logging.getLogger(__name__)

APP_ID = "ccproxy-desktop"
USAGE_REPORT_FILE = "usage-report.png"


class Opener(Protocol):
    def open(self, path: Path) -> None:
        """Open with the desktop's default application; raises an exception with a message on failure."""
        ...


class Terminal(Protocol):
    def run(self, command: list[str], title: str, typed: str, env: dict[str, str] | None = None) -> None:
        """Show `command` running in a terminal window; raises `NoTerminal` saying to type `typed`."""
        ...


class IconPort(Protocol):
    """The tray icon (pystray in the app, a recording fake in tests). Setters are thread-safe."""

    def set_image(self, image: Image.Image) -> None: ...

    def set_title(self, title: str) -> None: ...

    def refresh_menu(self) -> None: ...

    def run(self, setup: Callable[[], None]) -> None:
        """Show the icon and run the toolkit's loop on this (the main) thread until `stop`; `setup` runs on
        another thread once the icon is ready."""
        ...

    def stop(self) -> None: ...


IconFactory = Callable[["TrayApp"], IconPort]


@dataclass
class TrayServices:
    """The adapters the app drives; tests pass fakes."""

    proxy: ProxyPort
    ledger: Ledger
    notifier: Notifier
    opener: Opener
    shell: Toggle | None  # None: the user's shell is not supported
    autostart: Toggle | None  # None: no launch-at-login support here
    statusline: StatusLineToggle | None = None  # None: no Claude Code status line item
    terminal: Terminal | None = None  # None: the desktop's terminal emulator (`terminal.py`)


def tooltip(state: AppState) -> str:
    return f"ccproxy: {status_line(state.proxy)} · {spend_lines(state)[0]}"


class TrayApp:
    def __init__(
        self,
        paths: ConfigPaths,
        services: TrayServices,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = local_now,
        supervisor_options: dict[str, Any] | None = None,
        poll_interval: float = 2.0,
        discovery_interval: float = 600.0,
    ) -> None:
        self.paths = paths
        self.services = services
        self._override = OverrideFile(paths.model_override_file)
        self.actions = frozenset(
            a
            for a in ALL_ACTIONS
            if not (a is Action.TOGGLE_SHELL and services.shell is None)
            and not (a is Action.TOGGLE_AUTOSTART and services.autostart is None)
            and not (a is Action.TOGGLE_STATUSLINE and services.statusline is None)
        )
        self.supervisor = Supervisor(services.proxy, clock, self._proxy_changed, **(supervisor_options or {}))
        self._lock = threading.Lock()
        self._state = AppState(proxy=self.supervisor.status)
        self._entries = build_menu(self._state, self.actions)
        self.poller = LedgerPoller(
            paths,
            services.ledger,
            on_update=self.update,
            on_advice=self.advise,
            toggles=self._read_toggles,
            now=now,
            clock=clock,
            interval=poll_interval,
        )
        self.discoverer = ModelDiscoverer(
            self._list_models, lambda offered: self.update(offered=offered), interval=discovery_interval
        )
        self._terminal: Terminal = services.terminal or TerminalLauncher()
        self._action_lock = threading.Lock()
        self._icon: IconPort | None = None
        self._icon_lock = threading.Lock()
        self._shown: tuple[object, str, tuple[MenuEntry, ...]] | None = None
        self._quit = threading.Event()

    # -- state -------------------------------------------------------------------------------------------

    @property
    def state(self) -> AppState:
        return self._state

    def entries(self) -> tuple[MenuEntry, ...]:
        """The menu of the current state (pystray's menu reads this each time it is rebuilt)."""
        return self._entries

    def update(self, **changes: Any) -> None:
        """Change `AppState` fields (any thread); the icon follows."""
        with self._lock:
            new = replace(self._state, **changes)
            if new == self._state:
                return
            self._state = new
            self._entries = build_menu(new, self.actions)
        if "providers" in changes:
            self.discoverer.want(new.providers)
        self._show()

    def _show(self) -> None:
        icon = self._icon
        if icon is None:
            return
        with self._icon_lock:
            state, entries = self._state, self._entries
            look = (state.icon_kind, state.budget_ring())
            title = tooltip(state)
            shown = self._shown
            if shown is None or shown[0] != look:
                icon.set_image(draw_icon(look[0], ring=look[1]))
            if shown is None or shown[1] != title:
                icon.set_title(title)
            if shown is None or shown[2] != entries:
                icon.refresh_menu()
            self._shown = (look, title, entries)

    def _read_toggles(self) -> dict[str, Any]:
        toggles: dict[str, Any] = {}
        if self.services.shell is not None:
            toggles["shell_integration"] = self.services.shell.is_on()
        if self.services.autostart is not None:
            toggles["launch_at_login"] = self.services.autostart.is_on()
        if self.services.statusline is not None:
            toggles["claude_statusline"] = self.services.statusline.is_on()
        return toggles

    def _proxy_changed(self, status: ProxyStatus, transition: Transition) -> None:
        self.update(proxy=status)
        advice = advice_for_proxy(status, transition)
        if advice is not None:
            self.advise(advice)

    def advise(self, advice: Advice) -> None:
        """Show `advice` as a notification whose buttons dispatch their actions."""
        buttons = [(b.label, partial(self.dispatch, b.action, b.argument)) for b in advice.buttons]
        self.services.notifier.notify(advice.title, advice.message, buttons, kind=advice.kind)

    # -- actions (menu items and notification buttons; any thread) -----------------------------------------

    def dispatch(self, action: Action, argument: str | None = None) -> None:
        """Run one action; a failure becomes a notification (and a log line), never a crash of the caller."""
        handlers: dict[Action, Callable[[], None]] = {
            Action.SWITCH_MODEL: lambda: self.switch_model(argument),
            Action.ROUTE: lambda: self.route_rule(argument or ""),
            Action.TEST_PROVIDER: lambda: self.test_provider(argument or ""),
            Action.ADD_PROVIDER: lambda: self.add_provider(argument or ""),
            Action.REMOVE_PROVIDER: lambda: self.ask_remove_provider(argument or ""),
            Action.REMOVE_PROVIDER_NOW: lambda: self.remove_provider(argument or ""),
            Action.START: self.supervisor.request_start,
            Action.STOP: self.supervisor.request_stop,
            Action.RESTART: self.supervisor.request_restart,
            Action.TOGGLE_SHELL: self.toggle_shell_integration,
            Action.TOGGLE_AUTOSTART: self.toggle_launch_at_login,
            Action.TOGGLE_STATUSLINE: lambda: self.toggle_statusline(wrap=argument == "wrap"),
            Action.OPEN_CONFIG: self.open_config_folder,
            Action.OPEN_LOG: self.open_log,
            Action.DASHBOARD: self.open_dashboard_or_report,
            Action.USAGE_REPORT: self.usage_report,
            Action.CLEAR_CACHE: self.clear_response_cache,
            Action.QUIT: self.quit,
        }
        with self._action_lock:
            try:
                handlers[action]()
            except Exception as exc:  # shown to the user: a menu click must never kill the tray
                log.exception("tray action %s failed", action.value)
                self.advise(Advice("action-error", f"{action.value}: failed", str(exc) or type(exc).__name__))

    def switch_model(self, model: str | None) -> None:
        """The quick model switch (same file as `ccproxy model use NAME` / `auto`): from the next request on.
        A model a provider offers that config.yaml doesn't have yet is added first."""
        if model and self._offered_by(model) is not None:
            self._in_thread(self._add_then, model, lambda: self.switch_model(model))
            return
        choice = ModelChoice(model) if model else None
        self._override.write(choice)
        self.update(model_choice=choice)

    def route_rule(self, argument: str) -> None:
        """`ccproxy route RULE MODEL` from the menu: config.yaml edited in place (comments kept, validated, a
        backup); the running proxy reloads it and the poller shows the new route."""
        from ..config.edit import ConfigEditError, edit_config, set_route
        from ..config.loader import ConfigInvalid
        from .menu import ROUTE_SEPARATOR

        rule, _, model = argument.partition(ROUTE_SEPARATOR)
        if self._offered_by(model) is not None:
            self._in_thread(self._add_then, model, lambda: self.route_rule(argument))
            return
        try:
            result = edit_config(self.paths, "config.yaml", set_route(rule, model))
        except (ConfigEditError, ConfigInvalid) as exc:  # said; a success shows as the menu's check mark
            self.advise(Advice("route-error", f"{rule} was not routed to {model}", str(exc)))
            return
        log.info("routed %s to %s in %s (previous version: %s)", rule, model, result.path, result.backup)
        self.update(routes=tuple((r, model if r == rule else t) for r, t in self.state.routes))

    def test_provider(self, name: str) -> None:
        """`ccproxy provider test NAME` (one tiny request to the provider, its key from the keyring) in a
        thread of its own, its verdict as a notification."""
        threading.Thread(
            target=self._test_provider, args=(name,), name="tray-provider-test", daemon=True
        ).start()

    def _test_provider(self, name: str) -> None:
        try:
            done = self._ccproxy("provider", "test", name, timeout=90)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.advise(Advice("provider-test", f"{name}: not tested", str(exc)))
            return
        said = (done.stdout.strip() or done.stderr.strip() or f"exit status {done.returncode}").splitlines()
        verdict = said[-1].removeprefix(f"{name}: ").removeprefix("ccproxy: ")
        title = f"{name}: ok" if done.returncode == 0 else f"{name}: failed"
        self.advise(Advice("provider-test", title, verdict))

    # -- providers: add, remove, the models they offer --------------------------------------------------------

    def add_provider(self, name: str) -> None:
        """`ccproxy provider add NAME`. A provider that needs a key gets a terminal window with the command's
        hidden prompt (a key is never typed into the tray or shown in a notification); the others are added
        at once, in a thread, and a notification says what was added."""
        from ..providers.presets import preset

        entry = preset(name)
        if entry.needs_key:
            typed = f"ccproxy provider add {name}"
            try:
                self._terminal.run(
                    self._ccproxy_command("provider", "add", name),
                    f"Adding {entry.title} to ccproxy: paste its key at the prompt ({entry.key_url or 'your account'})",
                    typed,
                    self._child_env(),
                )
            except NoTerminal as exc:
                self.advise(Advice("provider-add", f"Add {entry.title} in a terminal", str(exc)))
            return
        self._in_thread(self._add_keyless, name)

    def _add_keyless(self, name: str) -> None:
        done = self._ccproxy("provider", "add", name, timeout=60)
        if done.returncode != 0:
            self.advise(Advice("provider-add", f"{name} was not added", _last_line(done)))
            return
        from ..providers.presets import preset

        self.poller.poll()
        models = [m for m in self.state.models if m.startswith(f"{name}/")]
        said = f"config.yaml now has {', '.join(models)}."
        entry = preset(name)
        if entry.credential in ("aws", "gcp"):  # what the proxy's environment must hold
            said += f" {entry.notes}"
        self.advise(Advice("provider-add", f"{name} added", said))

    def ask_remove_provider(self, name: str) -> None:
        """Removing takes the provider's models out of config.yaml and its key out of the keyring: the
        notification asks first, its button does it."""
        from ..providers.presets import preset

        models = [m for m in self.state.models if m.startswith(f"{name}/")]
        what = f"{', '.join(models)} leave" if models else "its models leave"
        key = " and its key leaves the keyring" if preset(name).needs_key else ""
        self.advise(
            Advice(
                "provider-remove",
                f"Remove {name}?",
                f"{what} config.yaml (a backup is kept){key}.",
                (AdviceButton("Remove", Action.REMOVE_PROVIDER_NOW, name),),
            )
        )

    def remove_provider(self, name: str) -> None:
        self._in_thread(self._remove_provider, name)

    def _remove_provider(self, name: str) -> None:
        done = self._ccproxy("provider", "remove", name, timeout=60)
        title = f"{name} removed" if done.returncode == 0 else f"{name} was not removed"
        self.advise(Advice("provider-remove", title, _last_line(done)))

    def _offered_by(self, model: str) -> str | None:
        """The provider offering `model` (`NAME/MODEL`) when config.yaml doesn't have it yet, else None."""
        if model in self.state.models:
            return None
        provider, _, name = model.partition("/")
        offered = dict(self.state.offered).get(provider, ())
        return provider if name in offered else None

    def _add_then(self, model: str, then: Callable[[], None]) -> None:
        """Add `model` a provider offers (`ccproxy provider add NAME --model M --keep-key`), then `then`."""
        provider, _, name = model.partition("/")
        done = self._ccproxy("provider", "add", provider, "--model", name, "--keep-key", timeout=60)
        if done.returncode != 0:
            self.advise(Advice("provider-add", f"{model} was not added", _last_line(done)))
            return
        self.poller.poll()  # the menu learns the new model_name
        self.discoverer.refresh()
        if model not in self.state.models:
            self.update(models=(*self.state.models, model))
        offered = tuple(
            (p, tuple(n for n in names if f"{p}/{n}" != model)) for p, names in self.state.offered
        )
        self.update(offered=tuple((p, names) for p, names in offered if names))
        then()

    def _list_models(self, name: str) -> str | None:
        try:
            done = self._ccproxy("provider", "models", name, "--json", timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("`ccproxy provider models %s` failed: %s", name, exc)
            return None
        return done.stdout if done.returncode == 0 else None

    def _in_thread(self, target: Callable[..., None], *args: Any) -> None:
        """Run `target` in a thread of its own (a child process must not block the toolkit's loop); a
        failure becomes a notification."""

        def run() -> None:
            try:
                target(*args)
            except Exception as exc:
                log.exception("tray action failed")
                self.advise(Advice("action-error", "ccproxy: failed", str(exc) or type(exc).__name__))

        threading.Thread(target=run, name="tray-action", daemon=True).start()

    def toggle_shell_integration(self) -> None:
        self._toggle(self.services.shell, "shell_integration")

    def toggle_launch_at_login(self) -> None:
        self._toggle(self.services.autostart, "launch_at_login")

    def toggle_statusline(self, wrap: bool = False) -> None:
        """Claude Code's status line on or off. A statusLine of the user's own is never replaced: the
        notification offers to wrap it (theirs keeps running, ccproxy's part is appended)."""
        from .claude_settings import ForeignStatusLine

        toggle = self.services.statusline
        if toggle is None:
            return
        if toggle.is_on() and not wrap:
            toggle.turn_off()
        else:
            try:
                toggle.turn_on(wrap=wrap)
            except ForeignStatusLine:
                self.advise(
                    Advice(
                        "statusline",
                        "Claude Code has a status line of yours",
                        "ccproxy's can wrap it: yours keeps running and ccproxy's part is appended to what it "
                        f"prints. Nothing was changed in {toggle.path}.",
                        (AdviceButton("Wrap mine", Action.TOGGLE_STATUSLINE, "wrap"),),
                    )
                )
        self.update(claude_statusline=toggle.is_on())

    def _toggle(self, toggle: Toggle | None, field: str) -> None:
        if toggle is None:
            return
        if toggle.is_on():
            toggle.turn_off()
        else:
            toggle.turn_on()
        self.update(**{field: toggle.is_on()})

    def open_config_folder(self) -> None:
        self.services.opener.open(self.paths.config_dir)

    def open_log(self) -> None:
        if not self.paths.proxy_log.exists():
            create_private_file(self.paths.proxy_log, "")
        self.services.opener.open(self.paths.proxy_log)

    def usage_report(self) -> None:
        self.services.opener.open(self.render_usage_report())

    def render_usage_report(self) -> Path:
        """This month's spend per day and model (`ccproxy usage --period month --chart`), as a PNG in run/."""
        from ..ledger.chart import render_spend_chart  # fonts and all: only when asked for

        now = local_now()
        since = period_window("month", now).start.timestamp()
        days = self.services.ledger.daily_spend_by_model(since, local_zone())
        path = self.paths.run_dir / USAGE_REPORT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        render_spend_chart(days, path, title=f"Spend per day by model, {now:%B %Y}")
        return path

    def open_dashboard_or_report(self) -> None:
        """The Dashboard item, and the icon's click where the backend has no menu (xorg): the dashboard
        (`ccproxy dashboard`, which needs the proxy running), else the usage report. Runs in a thread of its own: the click must not block the
        toolkit's loop for the time a browser takes to start."""
        threading.Thread(target=self._open_dashboard_or_report, name="tray-click", daemon=True).start()

    def _open_dashboard_or_report(self) -> None:
        try:
            done = self._ccproxy("dashboard", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("`ccproxy dashboard` failed (%s): opening the usage report", exc)
        else:
            if done.returncode == 0:
                return
            log.warning(
                "`ccproxy dashboard` failed: %s; opening the usage report",
                done.stderr.strip().splitlines()[-1:] or done.returncode,
            )
        self.dispatch(Action.USAGE_REPORT)

    def _ccproxy_command(self, *args: str) -> list[str]:
        return [
            *module_command("ccproxy_desktop.cli.main"),
            "--config-dir",
            str(self.paths.config_dir),
            *args,
        ]

    @staticmethod
    def _child_env() -> dict[str, str]:
        from .opener import _TRAY_ONLY_ENV

        return {k: v for k, v in os.environ.items() if k not in _TRAY_ONLY_ENV}

    def _ccproxy(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """`ccproxy --config-dir DIR ARGS...` as a child (the tray stays free of the CLI's imports), in the
        environment a desktop launch gives, its output captured. Raises OSError or TimeoutExpired."""
        return subprocess.run(
            self._ccproxy_command(*args),
            env=self._child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def clear_response_cache(self) -> None:
        """Drop every cached response (`ccproxy cache clear`): cache.db and running proxies' memory."""
        from ..cache.control import clear_cache

        settings = self.poller.settings
        spec = settings.ccproxy.cache if settings is not None else CacheSpec()
        dropped = clear_cache(self.paths, spec)
        log.info("response cache cleared from the tray (%d entries in cache.db)", dropped)
        self.advise(Advice("cache-cleared", "Response cache cleared", f"{dropped} cached responses dropped"))

    def quit(self) -> None:
        """Close the tray; `run` then stops the proxy if the tray started it."""
        self._quit.set()
        icon = self._icon
        if icon is not None:
            icon.stop()

    # -- lifecycle (main thread) ---------------------------------------------------------------------------

    def run(self, icon_factory: IconFactory) -> int:
        """Show the tray until Quit (this thread runs the toolkit), then shut everything down."""
        self.poller.prime()
        self.poller.poll()  # the first menu already shows models, spend and toggles
        self.attach(icon_factory(self))
        assert self._icon is not None

        def setup() -> None:
            self.poller.start()
            self.discoverer.start()
            self.supervisor.start()

        try:
            if not self._quit.is_set():
                self._icon.run(setup)
        finally:
            self.shutdown()
        return 0

    def attach(self, icon: IconPort) -> None:
        """Show the current state on `icon` from now on."""
        self._icon = icon
        self._show()

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop the threads and, if the tray started it, the proxy. A proxy start in progress is waited for
        (then stopped): leaving it would leave a proxy nobody owns."""
        self._quit.set()
        self.poller.stop()
        self.discoverer.stop()
        if self.supervisor.status.phase == "starting":
            log.info("waiting for the proxy start in progress to end, to stop it")
        self.supervisor.shutdown(timeout)
        self.services.notifier.close()
        self.services.ledger.close()


class PystrayIcon:
    """`IconPort` on pystray (backend chosen beforehand: see `backend.prepare_backend`)."""

    def __init__(self, app: TrayApp) -> None:
        self._glib = os.environ.get("PYSTRAY_BACKEND") in ("gtk", "appindicator")
        if self._glib:
            import gi

            gi.require_version("GLib", "2.0")
            from gi.repository import GLib

            GLib.set_prgname(APP_ID)  # the menu's X windows are WM_CLASS ccproxy-desktop
        import pystray

        from .menu import to_pystray

        self._backend = os.environ.get("PYSTRAY_BACKEND")
        self.has_menu = bool(pystray.Icon.HAS_MENU)
        if self.has_menu:
            menu = to_pystray(app.entries, app.dispatch)
        else:  # only the default item's action runs: on a (left) click on the icon
            menu = pystray.Menu(
                pystray.MenuItem("Open dashboard", lambda *_: app.open_dashboard_or_report(), default=True)
            )
        state = app.state
        self._icon = pystray.Icon(
            APP_ID,
            draw_icon(state.icon_kind, ring=state.budget_ring()),
            backend_text(tooltip(state), self._backend),
            menu=menu,
        )
        if self._backend == "xorg":
            self._listen_for_clicks()
        self._app = app
        self._on_signal = app.quit

    def _listen_for_clicks(self) -> None:
        """pystray's xorg icon window asks X for exposure and structure events only (0.19.5), so its
        ButtonPress handler never runs: ask for button presses too."""
        window = getattr(self._icon, "_window", None)
        display = getattr(self._icon, "_display", None)
        if window is None or display is None:
            log.warning("pystray's xorg icon has no window to listen on: clicks on the icon will do nothing")
            return
        import Xlib.X

        window.change_attributes(
            event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask
        )
        display.flush()

    def set_image(self, image: Image.Image) -> None:
        self._icon.icon = image

    def set_title(self, title: str) -> None:
        self._icon.title = backend_text(title, self._backend)

    def refresh_menu(self) -> None:
        if self.has_menu:
            self._icon.update_menu()

    def run(self, setup: Callable[[], None]) -> None:
        def ready(icon: Any) -> None:
            icon.visible = True
            if self._glib:
                self._quit_on_glib_signals()
            setup()
            if not self.has_menu:  # said once per start, here and (by launch) in the log
                self._app.advise(
                    Advice("no-menu", "ccproxy-desktop: the tray icon has no menu", NO_MENU_HINT)
                )

        if not self._glib:  # the toolkit's loop leaves Python's signal handling alone
            signal.signal(signal.SIGTERM, lambda *_: self._on_signal())
        self._icon.run(ready)

    def stop(self) -> None:
        self._icon.stop()

    def _quit_on_glib_signals(self) -> None:
        """SIGTERM/SIGINT/SIGHUP quit cleanly (stopping the proxy the tray started) instead of killing the
        process. Under a GLib loop the handler must be GLib's: a Python handler would run only once the loop
        returns, and pystray's gtk backend resets SIGINT to the default (kill) when its loop starts."""
        from gi.repository import GLib

        def handler(*_: Any) -> bool:
            self._on_signal()
            return True

        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, number, handler)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """What a `ccproxy` child said last (its error, or its last line of output), without the `ccproxy: `."""
    said = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()
    return said[-1].removeprefix("ccproxy: ")
