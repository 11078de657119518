"""Which pystray backend the tray uses, chosen before pystray is first imported (it reads `PYSTRAY_BACKEND` then).

Linux: `gtk` (an XEmbed status icon: trayer, XFCE, MATE, Cinnamon, LXDE, i3bar...), else `appindicator`
(StatusNotifierItem: KDE, GNOME with the AppIndicator extension), else `xorg`. On KDE, GNOME and Wayland
sessions, which show no XEmbed icons, `appindicator` comes first. A `PYSTRAY_BACKEND` the user set wins.
macOS and Windows: pystray's own choice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["choose_backend", "has_display", "prepare_backend"]


def has_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a tray can be shown: always on macOS/Windows; on Linux, an X or Wayland display."""
    if platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _typelib(namespace: str, version: str) -> bool:
    try:
        import gi

        gi.require_version(namespace, version)
    except (ImportError, ValueError):
        return False
    return True


def _appindicator_available() -> bool:
    return _typelib("AyatanaAppIndicator3", "0.1") or _typelib("AppIndicator3", "0.1")


def choose_backend(
    environ: Mapping[str, str],
    platform: str = sys.platform,
    *,
    gtk_available: Callable[[], bool] = lambda: _typelib("Gtk", "3.0"),
    appindicator_available: Callable[[], bool] = _appindicator_available,
) -> str | None:
    """The backend name for `PYSTRAY_BACKEND`, or None to let pystray decide."""
    if environ.get("PYSTRAY_BACKEND"):
        return environ["PYSTRAY_BACKEND"]
    if platform in ("darwin", "win32"):
        return None
    desktop = environ.get("XDG_CURRENT_DESKTOP", "").upper()
    prefer_sni = environ.get("XDG_SESSION_TYPE") == "wayland" or any(
        name in desktop for name in ("KDE", "GNOME", "UNITY")
    )
    gtk = gtk_available()
    if prefer_sni and gtk and appindicator_available():
        return "appindicator"
    if gtk:
        return "gtk"
    if appindicator_available():
        return "appindicator"
    return "xorg"


def prepare_backend(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Set `PYSTRAY_BACKEND` (and GTK's environment) in `environ` (default: this process's) before importing
    pystray. Returns the backend chosen.

    GTK probes OpenGL when it opens the display, which loads Mesa (and LLVM for software rendering): some 50 MB
    for an icon and a menu that never draw with GL. `GDK_GL=disable` turns that off in this process; the
    applications the tray opens do not inherit it (see `opener`).
    """
    env = os.environ if environ is None else environ
    backend = choose_backend(env)
    if backend is not None:
        env["PYSTRAY_BACKEND"] = backend
    if backend in ("gtk", "appindicator"):
        env.setdefault("GDK_GL", "disable")
    return backend
