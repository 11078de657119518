"""`ccproxy tray` (and the `ccproxy-desktop` GUI script): the desktop tray app.

Without a display (Linux: neither DISPLAY nor WAYLAND_DISPLAY) it runs the proxy in the foreground instead, as
`ccproxy start` would. Otherwise it replaces this process with the tray process, `python -m
ccproxy_desktop.desktop` (see `desktop.launch`): this CLI process has imported every command's modules, which
a tray sitting in the background all day should not carry. One tray per config folder: a second one says so
and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..config.paths import ConfigPaths
from ..desktop.backend import has_display
from ..proxy.control import ProxyControl

__all__ = ["tray"]

TRAY_MODULE = "ccproxy_desktop.desktop"


def tray(paths: ConfigPaths, args: argparse.Namespace) -> int:
    if not has_display(os.environ):
        print("no display: running the proxy headless (ccproxy start)", flush=True)
        ProxyControl(paths).exec_foreground()
    if getattr(sys, "frozen", False):  # a frozen app has no `-m`: run in this process
        from ..desktop.launch import run

        return run(paths)
    sys.stdout.flush()
    sys.stderr.flush()
    # The environment carries the config folder: main() exported --config-dir as $CCPROXY_CONFIG_DIR.
    assert ConfigPaths.from_env() == paths
    os.execve(sys.executable, [sys.executable, "-m", TRAY_MODULE], dict(os.environ))
    return 0  # not reached: execve does not return
