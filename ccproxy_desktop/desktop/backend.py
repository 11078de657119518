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

__all__ = [
    "NO_MENU_HINT",
    "backend_text",
    "choose_backend",
    "has_display",
    "has_menu",
    "prepare_backend",
]

WIN32_TOOLTIP_CHARS = 127  # NOTIFYICONDATAW.szTip is 128 WCHARs with the terminating NUL

NO_MENU_HINT = (
    "This Python has no GTK bindings (PyGObject), so the tray icon has no menu: a click on it opens the "
    "dashboard (or the usage report). For the menu: Debian/Ubuntu system Python: sudo apt install python3-gi "
    "gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1; Fedora: sudo dnf install python3-gobject gtk3 "
    "libayatana-appindicator-gtk3; in a venv, pipx or uv tool install: also the build packages "
    "(Debian/Ubuntu: libgirepository1.0-dev libcairo2-dev pkg-config python3-dev; Fedora: "
    "gobject-introspection-devel cairo-gobject-devel pkg-config python3-devel), then install ccproxy-desktop[gtk] (pipx/uv: reinstall with the gtk "
    "extra). See docs/desktop.md."
)


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


def has_menu(backend: str | None, platform: str = sys.platform) -> bool:
    """Whether pystray's `backend` shows a menu (xorg has only the icon and its left click; dummy nothing)."""
    if backend is None:
        return platform in ("darwin", "win32")
    return backend not in ("xorg", "dummy")


def backend_text(text: str, backend: str | None, platform: str = sys.platform) -> str:
    """`text` (a title or tooltip) as `backend` can show it without raising.

    xorg: python-xlib writes WM_NAME as Latin-1 (`set_wm_name`), so characters outside it become ASCII ("…" is
    "...") or "?". win32: the tooltip holds 127 characters. The others take any Unicode.
    """
    if backend == "xorg":
        text = text.replace("\u2026", "...").replace("\u2014", "-").replace("\u2013", "-")
        text = text.encode("latin-1", errors="replace").decode("latin-1")
    if platform == "win32" and len(text) > WIN32_TOOLTIP_CHARS:
        text = text[: WIN32_TOOLTIP_CHARS - 3] + "..."
    return text
