"""What each pystray backend can show: titles safe for xorg's Latin-1 WM_NAME and win32's 127-character tooltip,
and which backends have a menu."""

from __future__ import annotations

from ccproxy_desktop.desktop.app import tooltip
from ccproxy_desktop.desktop.backend import NO_MENU_HINT, backend_text, has_menu
from ccproxy_desktop.desktop.state import AppState, ProxyStatus


def test_an_xorg_title_is_latin_1_with_the_ellipsis_spelled_out() -> None:
    title = tooltip(AppState(proxy=ProxyStatus(phase="starting")))
    assert "\u2026" in title  # the case that crashed python-xlib's set_wm_name
    shown = backend_text(title, "xorg", "linux")
    shown.encode("latin-1")
    assert "Starting..." in shown and "\u00b7" in shown  # the middle dot is Latin-1: kept


def test_characters_outside_latin_1_become_question_marks_on_xorg_only() -> None:
    assert backend_text("ok \u2713 \u2014 \u20ac", "xorg", "linux") == "ok ? - ?"
    assert backend_text("ok \u2713 \u2026", "gtk", "linux") == "ok \u2713 \u2026"
    assert backend_text("ok \u2713 \u2026", "appindicator", "linux") == "ok \u2713 \u2026"
    assert backend_text("ok \u2713 \u2026", None, "darwin") == "ok \u2713 \u2026"


def test_a_win32_tooltip_is_cut_to_127_characters() -> None:
    shown = backend_text("x" * 300, None, "win32")
    assert len(shown) == 127 and shown.endswith("...")
    assert backend_text("short \u2026", None, "win32") == "short \u2026"


def test_only_xorg_and_dummy_have_no_menu() -> None:
    assert not has_menu("xorg", "linux") and not has_menu("dummy", "linux")
    assert has_menu("gtk", "linux") and has_menu("appindicator", "linux")
    assert has_menu(None, "darwin") and has_menu(None, "win32")


def test_the_hint_names_the_packages_for_debian_ubuntu_and_fedora() -> None:
    for package in ("python3-gi", "gir1.2-gtk-3.0", "python3-gobject", "libgirepository1.0-dev", "[gtk]"):
        assert package in NO_MENU_HINT
