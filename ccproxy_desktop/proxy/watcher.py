"""Watching the config folder with watchdog: editors' atomic saves (write a temp file, rename it over the
target) and bursts of events are folded into one call per file, ~300 ms after the last event.

The folder itself may be deleted (or moved away) while the proxy runs, and created again later (`ccproxy
install`, a restore from backup). inotify's watch dies with the folder, so the folder's parent is watched too:
when the folder goes, `on_folder_change(False)` is called; when it comes back, the folder is watched again,
`on_folder_change(True)` is called and every watched file in it counts as changed (it may have been written
before the new watch started).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

__all__ = ["ConfigWatcher"]

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: ConfigWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        src = Path(str(event.src_path))
        dest = Path(str(event.dest_path)) if getattr(event, "dest_path", "") else None
        folder = self.watcher.folder
        if event.is_directory and src == folder and event.event_type in ("deleted", "moved"):
            self.watcher.folder_changed(present=False)
        if event.is_directory and folder in ((src if event.event_type == "created" else None), dest):
            self.watcher.folder_changed(present=True)
        for path in (src, dest):
            if path is not None:
                self.watcher.touched(path)


class ConfigWatcher:
    """Calls `on_change(path)` (on the watcher's timer thread) once per burst of changes to one of `names`
    in `folder`, and `on_folder_change(present)` (on the observer's thread) when the folder is deleted or
    created again."""

    def __init__(
        self,
        folder: Path,
        names: Collection[str],
        on_change: Callable[[Path], None],
        debounce: float = DEBOUNCE_SECONDS,
        on_folder_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.folder = folder
        self.names = frozenset(names)
        self.on_change = on_change
        self.on_folder_change = on_folder_change
        self.debounce = debounce
        self._timers: dict[Path, threading.Timer] = {}
        self._lock = threading.Lock()
        self._handler = _Handler(self)
        self._folder_watch: ObservedWatch | None = None
        self._observer = Observer()
        self._observer.name = "config-watcher"
        self._observer.daemon = True

    def start(self) -> None:
        self._folder_watch = self._observer.schedule(self._handler, str(self.folder), recursive=False)
        if self.folder.parent != self.folder:
            self._observer.schedule(self._handler, str(self.folder.parent), recursive=False)
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def folder_changed(self, present: bool) -> None:
        """The folder was deleted or moved away (`present` False), or created again (True)."""
        if present == (self._folder_watch is not None):
            return
        if present:
            try:
                self._folder_watch = self._observer.schedule(self._handler, str(self.folder), recursive=False)
            except OSError as exc:  # gone again already: the next creation tries again
                log.warning("cannot watch %s again: %s", self.folder, exc)
                return
        else:
            watch, self._folder_watch = self._folder_watch, None
            if watch is not None:
                with contextlib.suppress(KeyError):  # already removed by watchdog
                    self._observer.unschedule(watch)
        self._notify_folder(present)
        if present:
            for name in sorted(self.names):
                if (self.folder / name).exists():
                    self.touched(self.folder / name)

    def _notify_folder(self, present: bool) -> None:
        if self.on_folder_change is None:
            return
        try:
            self.on_folder_change(present)
        except Exception:  # the watcher must survive a failing listener; logged with its traceback
            log.exception("config folder listener failed")

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
