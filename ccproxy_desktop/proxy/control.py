"""Starting, stopping and finding the proxy process, for the CLI and the tray alike.

The running proxy is described by its state file (`run/proxy.json`: pid, url, start time), written by
the proxy process itself; a state file whose process is gone is stale and ignored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths, create_private_file
from .guard import STATUS_PATH

__all__ = ["ProxyControl", "ProxyState", "StartFailed"]

SERVER_MODULE = "ccproxy_desktop.proxy.server"
START_TIMEOUT = 120.0

# Exit codes of the proxy process (`proxy.server`) that a retry cannot fix: a person has to act first.
EXIT_CONFIG = 2  # the configuration is invalid
EXIT_PORT = 3  # the port is taken or can't be bound
EXIT_RUNNING = 5  # another proxy of the same config folder holds its lock
NEEDS_USER_EXIT_CODES = frozenset({EXIT_CONFIG, EXIT_PORT})


class StartFailed(Exception):
    """The proxy did not come up; the message says why (config error, port taken, crash...).

    `exit_code` is the proxy process's exit code when it exited (None: it hung or could not be spawned);
    `detail` is what the process said about it, without the "exited with code" preamble."""

    def __init__(self, message: str, exit_code: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.detail = detail

    @property
    def needs_user(self) -> bool:
        """True when retrying the same start cannot succeed (invalid config, port taken)."""
        return self.exit_code in NEEDS_USER_EXIT_CODES


@dataclass(frozen=True)
class ProxyState:
    pid: int
    url: str
    started_at: float
    config_dir: str

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, time.time() - self.started_at)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return SERVER_MODULE.encode() in cmdline or b"uvicorn" in cmdline


class ProxyControl:
    """Controls the proxy of one config folder."""

    def __init__(self, paths: ConfigPaths) -> None:
        self.paths = paths

    def state(self) -> ProxyState | None:
        """The running proxy, or None. Removes a stale state file."""
        try:
            raw = json.loads(self.paths.state_file.read_text())
            state = ProxyState(
                int(raw["pid"]), str(raw["url"]), float(raw["started_at"]), str(raw["config_dir"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _alive(state.pid):
            self.paths.state_file.unlink(missing_ok=True)
            return None
        return state

    def healthy(self, url: str, timeout: float = 2.0) -> bool:
        try:
            response = httpx.get(f"{url}/health/liveliness", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def live_status(self, url: str, key: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """The running proxy's own account of itself (`GET /ccproxy/status`: pid, ledger writer state), or
        None if it doesn't answer."""
        try:
            response = httpx.get(f"{url}{STATUS_PATH}", headers={"x-api-key": key}, timeout=timeout)
            payload = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    def _command(self) -> list[str]:
        from ..frozen import module_command  # a frozen build runs itself: see frozen.py

        return module_command(SERVER_MODULE)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "CCPROXY_CONFIG_DIR": str(self.paths.config_dir), "PYTHONUNBUFFERED": "1"}

    def exec_foreground(self) -> None:
        """Replace this process with the proxy (Ctrl-C stops it). Does not return."""
        env = {**self._env(), "CCPROXY_LOG_TO_FILE": "1"}
        command = self._command()
        os.execve(command[0], command, env)

    def start_timeout(self) -> float:
        """How long a start may take: each LiteLLM worker imports for 20-40 s on a small machine."""
        try:
            workers = load_settings(self.paths).server.num_workers
        except ConfigInvalid:
            workers = 1
        return START_TIMEOUT + 45.0 * (workers - 1)

    def start_detached(self, timeout: float | None = None) -> ProxyState:
        """Start the proxy in the background and return once it answers health checks.

        Raises StartFailed with the reason when it exits or doesn't answer within `timeout` seconds
        (default: `start_timeout()`).
        """
        timeout = self.start_timeout() if timeout is None else timeout
        self.paths.config_dir.mkdir(parents=True, exist_ok=True)
        if not self.paths.proxy_log.exists():
            create_private_file(self.paths.proxy_log, "")
        offset = self.paths.proxy_log.stat().st_size
        with open(self.paths.proxy_log, "ab") as log_file:
            process = subprocess.Popen(
                self._command(),
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                detail = self._failure_detail(offset)
                message = f"the proxy exited with code {code}"
                raise StartFailed(f"{message}:\n{detail}" if detail else message, code, detail)
            state = self.state()
            if state is not None and state.pid == process.pid and self.healthy(state.url, timeout=1.0):
                return state
            time.sleep(0.2)
        self._terminate(process.pid, grace=5.0)
        raise StartFailed(f"the proxy did not answer within {timeout:.0f} s; see {self.paths.proxy_log}")

    def _failure_detail(self, offset: int) -> str:
        """What the exited process wrote to the log: our `ccproxy:` lines, else its last lines."""
        with open(self.paths.proxy_log, "rb") as log_file:
            log_file.seek(offset)
            lines = log_file.read().decode("utf-8", "replace").splitlines()
        ours = [line.removeprefix("ccproxy: ") for line in lines if line.startswith(("ccproxy:", "  "))]
        return "\n".join(ours[-20:] or lines[-10:])

    def stop(self, timeout: float = 15.0) -> ProxyState | None:
        """Stop the running proxy (SIGTERM, then SIGKILL after `timeout`). Returns what was stopped."""
        state = self.state()
        if state is None:
            return None
        self._terminate(state.pid, grace=timeout)
        self.paths.state_file.unlink(missing_ok=True)
        return state

    def _terminate(self, pid: int, grace: float) -> None:
        group = _own_group(pid)
        _signal(pid, group, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _exists(pid):
                return
            time.sleep(0.1)
        _signal(pid, group, signal.SIGKILL)
        end = time.monotonic() + 5
        while _exists(pid) and time.monotonic() < end:
            time.sleep(0.05)


def _own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal(pid: int, group: bool, sig: signal.Signals) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _exists(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
