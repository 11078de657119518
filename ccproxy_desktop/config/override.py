"""The quick model switch's file (`model-override.json`): written by `ccproxy model` and the tray, read by
the proxy on every request (a `stat`, re-read only when it changed), so a switch applies from the next
request on, without a restart, and persists."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .paths import create_private_file

__all__ = ["ModelChoice", "OverrideFile"]


@dataclass(frozen=True)
class ModelChoice:
    """The quick model switch: `model` serves the main conversation (requests no rule matched); with
    `force_all` it serves every request, rules or not."""

    model: str
    force_all: bool = False


class OverrideFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._choice: ModelChoice | None = None

    def read(self) -> ModelChoice | None:
        """The current choice, or None for automatic routing (also when the file is missing or unreadable)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._choice = None, None
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return self._choice
        with self._lock:
            self._choice = self._parse()
            self._stamp = stamp
        return self._choice

    def _parse(self) -> ModelChoice | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or not model:
            return None
        return ModelChoice(model, bool(data.get("force_all", False)))

    def write(self, choice: ModelChoice | None) -> None:
        """Switch to `choice` (None: back to automatic routing)."""
        if choice is None:
            self.path.unlink(missing_ok=True)
            return
        create_private_file(
            self.path, json.dumps({"model": choice.model, "force_all": choice.force_all}) + "\n"
        )
