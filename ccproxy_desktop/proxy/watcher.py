"""Watching the config folder with watchdog: editors' atomic saves (write a temp file, rename it over the
target) and bursts of events are folded into one call per file, ~300 ms after the last event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

__all__ = ["ConfigWatcher"]

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: ConfigWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.watcher.touched(Path(str(raw)))


class ConfigWatcher:
    """Calls `on_change(path)` (on the watcher's timer thread) once per burst of changes to one of `names`
    in `folder`."""

    def __init__(
        self,
        folder: Path,
        names: Collection[str],
        on_change: Callable[[Path], None],
        debounce: float = DEBOUNCE_SECONDS,
    ) -> None:
        self.folder = folder
        self.names = frozenset(names)
        self.on_change = on_change
        self.debounce = debounce
        self._timers: dict[Path, threading.Timer] = {}
        self._lock = threading.Lock()
        self._observer = Observer()
        self._observer.name = "config-watcher"
        self._observer.daemon = True

    def start(self) -> None:
        self._observer.schedule(_Handler(self), str(self.folder), recursive=False)
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def touched(self, path: Path) -> None:
        if path.name not in self.names or path.parent != self.folder:
            return
        with self._lock:
            previous = self._timers.pop(path, None)
            if previous is not None:
                previous.cancel()
            timer = threading.Timer(self.debounce, self._fire, args=(path,))
            timer.name = "config-debounce"
            timer.daemon = True
            self._timers[path] = timer
            timer.start()

    def _fire(self, path: Path) -> None:
        with self._lock:
            self._timers.pop(path, None)
        try:
            self.on_change(path)
        except Exception:  # the watcher must survive a failing reload; the reload logs its own errors
            log.exception("config reload after a change to %s failed", path.name)
