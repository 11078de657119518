"""Open a file or folder with the desktop's default application: `xdg-open` (Linux and other XDG desktops),
`open` (macOS), `os.startfile` (Windows). Returns at once; the opener process is reaped on a later call."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FileOpener", "OpenFailed"]

# Set by the tray for its own GTK (see backend.py); the applications we open must not inherit them.
_TRAY_ONLY_ENV = ("GDK_GL", "PYSTRAY_BACKEND")


class OpenFailed(Exception):
    """No opener program, or it could not be started; the message says which."""


class FileOpener:
    def __init__(self, platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> None:
        self._platform = platform
        self._environ = environ
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def command(self, path: Path) -> list[str]:
        if self._platform == "darwin":
            return ["open", str(path)]
        return ["xdg-open", str(path)]

    def open(self, path: Path) -> None:
        if self._platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined]  # Windows only
            return
        env = {k: v for k, v in (self._environ or os.environ).items() if k not in _TRAY_ONLY_ENV}
        with self._lock:
            self._children = [child for child in self._children if child.poll() is None]
            try:
                child = subprocess.Popen(
                    self.command(path),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                raise OpenFailed(
                    f"can't open {path}: {self.command(path)[0]}: {exc.strerror or exc}"
                ) from exc
            self._children.append(child)
