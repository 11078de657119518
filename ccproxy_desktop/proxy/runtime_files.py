"""The files a running proxy needs in its config folder, put back if the folder is deleted under it.

Without `run/proxy.json` the CLI and the tray can't find the proxy (`ccproxy status` says stopped, `ccproxy
stop` can't stop it, a new start finds the port taken); without `master.key` (when the key is kept in that
file rather than the keyring) `ccproxy run` would make a new key the proxy refuses; a proxy.log that was
deleted keeps receiving the log in a file nobody can open. `restore()` writes the state file and the key file
again as they were when the proxy started (0600), and points this process's stdout/stderr at a new proxy.log
when they were writing into a deleted one.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..config.paths import ConfigPaths, create_private_file

__all__ = ["RuntimeFiles"]


class RuntimeFiles:
    def __init__(self, paths: ConfigPaths) -> None:
        """Remember the state file of the proxy this process belongs to (itself, or its parent for a worker)."""
        self.paths = paths
        self._state = _own_state(paths.state_file)
        self._key = _read(paths.master_key_file)

    def restore(self) -> list[Path]:
        """Write back what is missing; return the files written."""
        written = []
        for path, content in ((self.paths.state_file, self._state), (self.paths.master_key_file, self._key)):
            if content is not None and not path.exists():
                create_private_file(path, content)
                written.append(path)
        if _writes_to_deleted_file(2):
            if not self.paths.proxy_log.exists():
                create_private_file(self.paths.proxy_log, "")
            fd = os.open(self.paths.proxy_log, os.O_WRONLY | os.O_APPEND)
            try:
                for target in (1, 2):
                    if _writes_to_deleted_file(target):
                        os.dup2(fd, target)
            finally:
                os.close(fd)
            written.append(self.paths.proxy_log)
        return written


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _own_state(path: Path) -> str | None:
    text = _read(path)
    try:
        pid = json.loads(text).get("pid") if text is not None else None
    except (ValueError, AttributeError):
        return None
    return text if pid in (os.getpid(), os.getppid()) else None


def _writes_to_deleted_file(fd: int) -> bool:
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 0
