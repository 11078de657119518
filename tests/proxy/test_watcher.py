"""The config watcher with the real inotify observer: editors' saves, bursts, other files."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from ccproxy_desktop.proxy.watcher import ConfigWatcher


class Calls:
    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.event = threading.Event()

    def __call__(self, path: Path) -> None:
        self.paths.append(path)
        self.event.set()


def watch(folder: Path) -> tuple[ConfigWatcher, Calls]:
    calls = Calls()
    watcher = ConfigWatcher(folder, {"ccproxy.yaml", "config.yaml"}, calls, debounce=0.2)
    watcher.start()
    return watcher, calls


def test_atomic_save_is_seen(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("a: 1\n")
    watcher, calls = watch(tmp_path)
    try:
        tmp = tmp_path / ".config.yaml.swp"
        tmp.write_text("a: 2\n")
        os.replace(tmp, target)
        assert calls.event.wait(5)
        assert calls.paths == [target]
    finally:
        watcher.stop()


def test_a_burst_of_writes_is_one_reload(tmp_path: Path) -> None:
    target = tmp_path / "ccproxy.yaml"
    watcher, calls = watch(tmp_path)
    try:
        for i in range(20):
            target.write_text(f"n: {i}\n")
        assert calls.event.wait(5)
        calls.event.clear()
        assert not calls.event.wait(0.6)  # nothing more after the debounced call
        assert calls.paths == [target]
    finally:
        watcher.stop()


def test_other_files_are_ignored(tmp_path: Path) -> None:
    watcher, calls = watch(tmp_path)
    try:
        (tmp_path / "ledger.db").write_text("x")
        (tmp_path / "notes.txt").write_text("x")
        assert not calls.event.wait(0.6)
    finally:
        watcher.stop()


def test_a_deleted_folder_is_reported_and_watched_again_when_it_comes_back(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "config.yaml").write_text("a: 1\n")
    calls = Calls()
    presence: list[bool] = []
    changed = threading.Event()

    def folder_changed(present: bool) -> None:
        presence.append(present)
        changed.set()

    watcher = ConfigWatcher(folder, {"config.yaml"}, calls, debounce=0.2, on_folder_change=folder_changed)
    watcher.start()
    try:
        shutil.rmtree(folder)
        assert changed.wait(5)
        changed.clear()
        assert presence == [False]
        calls.event.wait(1)  # the file's deletion is a change too (the reload then keeps the old config)
        calls.paths.clear()
        calls.event.clear()

        folder.mkdir()
        (folder / "config.yaml").write_text("a: 2\n")  # may land before the new watch: seen all the same
        assert changed.wait(5)
        assert presence == [False, True]
        assert calls.event.wait(5)
        assert set(calls.paths) == {folder / "config.yaml"}

        calls.event.clear()
        (folder / "config.yaml").write_text("a: 3\n")  # and watched from now on
        assert calls.event.wait(5)
    finally:
        watcher.stop()
