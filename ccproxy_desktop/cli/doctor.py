"""`ccproxy doctor`: what works and what doesn't on this machine, each with what to do about it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

from .. import __version__
from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..proxy.control import ProxyControl

__all__ = ["doctor"]


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warning | error
    detail: str


def _litellm() -> Check:
    try:
        version = metadata.version("litellm")
    except metadata.PackageNotFoundError:
        return Check("litellm", "error", "not installed: pip install 'litellm[proxy]==1.108.7'")
    if version != "1.108.7":
        return Check("litellm", "warning", f"{version} installed; ccproxy-desktop is tested with 1.108.7")
    return Check("litellm", "ok", version)


def _config(paths: ConfigPaths) -> list[Check]:
    from ..pipeline.pipeline import build_pipeline
    from ..pipeline.tokens import TokenCounter
    from ..proxy.server import credential_warnings, port_problem

    if not paths.ccproxy_yaml.exists() and not paths.litellm_yaml.exists():
        return [
            Check("config", "warning", f"no config in {paths.config_dir} yet: `ccproxy install` writes it")
        ]
    try:
        settings = load_settings(paths)
        _, warnings = build_pipeline(settings, TokenCounter())
    except ConfigInvalid as exc:
        return [Check("config", "error", str(issue)) for issue in exc.issues]
    checks = [Check("config", "ok", f"{paths.ccproxy_yaml} and {paths.litellm_yaml} are valid")]
    checks += [Check("config", "warning", str(w)) for w in warnings]
    checks += [Check("credentials", "warning", w) for w in credential_warnings(settings)]
    state = ProxyControl(paths).state()
    host, port = settings.server.host, settings.server.port
    if state is not None:
        checks.append(Check("port", "ok", f"{host}:{port} is used by this proxy (pid {state.pid})"))
    else:
        problem = port_problem(host, port)
        checks.append(Check("port", "error" if problem else "ok", problem or f"{host}:{port} is free"))
    return checks


def _keyring(paths: ConfigPaths) -> Check:
    from ..auth.stores import is_persistent, store_for

    store, warning = store_for(paths)
    if is_persistent(store):
        return Check("keyring", "ok", store.describe())
    return Check("keyring", "warning", warning or "no secure keyring")


def _notifications() -> Check:
    if sys.platform != "linux":
        return Check("notifications", "ok", "the system's notification centre")
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") or shutil.which("dbus-send") is None:
        return Check("notifications", "warning", "no D-Bus session bus: notifications can't be shown here")
    result = subprocess.run(
        [
            "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.Notifications",
        ],
        capture_output=True, text=True, timeout=5, check=False,
    )  # fmt: skip
    if "boolean true" in result.stdout:
        return Check("notifications", "ok", "a notification server owns org.freedesktop.Notifications")
    return Check("notifications", "warning", "no notification server is running (e.g. dunst, your desktop's)")


def _tray() -> Check:
    from ..desktop.backend import choose_backend, has_display

    if not has_display(os.environ):
        return Check("tray", "warning", "no display: `ccproxy tray` runs the proxy headless")
    backend = choose_backend(os.environ)
    if backend == "xorg":
        return Check(
            "tray",
            "warning",
            "no GTK for Python (PyGObject): the tray icon has no menu, a click on it opens the dashboard. "
            "For the menu: sudo apt install python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 "
            "(system Python) or pip install 'ccproxy-desktop[gtk]' (venv); see docs/desktop.md",
        )
    return Check("tray", "ok", f"pystray backend {backend or 'default'}")


def _claude() -> Check:
    found = shutil.which("claude")
    if found is None:
        return Check("claude", "warning", "Claude Code not on PATH: npm install -g @anthropic-ai/claude-code")
    return Check("claude", "ok", found)


def doctor(paths: ConfigPaths, args: argparse.Namespace) -> int:
    checks = [
        Check("ccproxy-desktop", "ok", f"{__version__} on Python {sys.version.split()[0]}"),
        _litellm(),
        *_config(paths),
        _keyring(paths),
        _notifications(),
        _tray(),
        _claude(),
    ]
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            print(f"{check.status:>7}  {check.name}: {check.detail}")
    return 1 if any(c.status == "error" for c in checks) else 0
