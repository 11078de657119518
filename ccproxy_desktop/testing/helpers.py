"""Small helpers the end-to-end tests share: running the CLI as a user would, waiting with a deadline, looking
at the ledger file and at the proxy processes of a config folder from outside."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config.paths import ConfigPaths
from ..proxy.control import SERVER_MODULE

__all__ = ["ledger_ids", "ledger_integrity", "proxy_processes", "run_ccproxy", "wait_for", "wait_for_rows"]


def run_ccproxy(
    config: ConfigPaths | Path,
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """`ccproxy --config-dir DIR ARGS...` in a subprocess of this interpreter; output captured as text."""
    config_dir = config.config_dir if isinstance(config, ConfigPaths) else config
    command = [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(config_dir), *args]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


def ledger_ids(paths: ConfigPaths) -> set[str]:
    """The request ids stored in the ledger of `paths`."""
    with sqlite3.connect(paths.ledger_db) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM requests")}


def ledger_integrity(paths: ConfigPaths) -> str:
    """SQLite's `PRAGMA integrity_check` of the ledger file: "ok" when it is intact."""
    with sqlite3.connect(paths.ledger_db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def wait_for_rows(paths: ConfigPaths, count: int, timeout: float = 15.0) -> int:
    """Poll the ledger until it holds at least `count` requests or `timeout` passes; return how many it holds."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(paths.ledger_db) as conn:
            rows = int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        if rows >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def proxy_processes(paths: ConfigPaths) -> list[int]:
    """Pids of the live proxy processes serving `paths`, workers included, found by command line and
    environment (Linux `/proc`, as `ps e` shows them)."""
    found = []
    marker = f"CCPROXY_CONFIG_DIR={paths.config_dir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if SERVER_MODULE.encode() in cmdline and marker in environ and state != "Z":
            found.append(int(entry.name))
    return sorted(found)
