"""The tray process: one per config folder, wired to the real adapters. `ccproxy tray` hands over to it
(`python -m ccproxy_desktop.desktop`), so the tray does not carry what the rest of the CLI imports (the routing
pipeline, tokenizers, the keyring stack...): it sits in the background all day, so its memory counts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..config.loader import install_defaults
from ..config.paths import CONFIG_DIR_ENV, ConfigPaths
from ..instance import AlreadyRunning, SingleInstance
from .backend import NO_MENU_HINT, has_menu, prepare_backend

__all__ = ["LOCK_FILE", "main", "run"]

LOCK_FILE = "tray.lock"
NOTIFICATION_ICON_FILE = "tray-icon.png"
ALREADY_RUNNING = "ccproxy-desktop is already running"


def main() -> int:
    """Entry point of `python -m ccproxy_desktop.desktop` (config folder: $CCPROXY_CONFIG_DIR or ~/.ccproxy)."""
    return run(ConfigPaths.from_env())


def run(paths: ConfigPaths) -> int:
    """Run the tray until Quit, unless another one holds the config folder's lock (then say so, return 0)."""
    lock = SingleInstance(paths.run_dir / LOCK_FILE)
    try:
        lock.acquire()
    except AlreadyRunning:
        print(ALREADY_RUNNING, flush=True)
        return 0
    try:
        return _run(paths)
    finally:
        lock.release()


def _run(paths: ConfigPaths) -> int:
    backend = prepare_backend()  # before anything imports pystray
    if not has_menu(backend):  # said once, here (the log) and in a notification once the icon shows
        print(f"ccproxy-desktop: {NO_MENU_HINT}", file=sys.stderr, flush=True)
    from ..ledger.store import Ledger
    from ..proxy.control import ProxyControl
    from .app import PystrayIcon, TrayApp, TrayServices
    from .icons import draw_icon
    from .notifier import DesktopNotifications
    from .opener import FileOpener
    from .proxy_port import LocalProxy
    from .toggles import AutostartToggle, shell_toggle, statusline_toggle

    if not paths.ccproxy_yaml.exists() and not paths.litellm_yaml.exists():
        install_defaults(paths)  # first start, as the proxy would do: the menu needs the model list
    icon_file = paths.run_dir / NOTIFICATION_ICON_FILE
    icon_file.parent.mkdir(parents=True, exist_ok=True)
    draw_icon("running").save(icon_file)
    # A config folder other than the default is written into the shell snippet; the default one is found by
    # the snippet itself, as ccproxy finds it.
    custom_dir = paths.config_dir if os.environ.get(CONFIG_DIR_ENV) else None
    services = TrayServices(
        proxy=LocalProxy(ProxyControl(paths)),
        ledger=Ledger(paths.ledger_db),
        notifier=DesktopNotifications(icon=icon_file),
        opener=FileOpener(),
        shell=shell_toggle(os.environ, Path.home(), custom_dir),
        autostart=AutostartToggle(),
        statusline=statusline_toggle(os.environ, Path.home(), custom_dir),
    )
    app = TrayApp(paths, services)
    try:
        return app.run(PystrayIcon)
    except ImportError as exc:  # no usable pystray backend (GTK or its typelibs missing...)
        print(f"ccproxy: the tray can't start: {exc}", file=sys.stderr)
        return 1
