"""Small helpers the end-to-end tests share: running the CLI as a user would, and waiting with a deadline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config.paths import ConfigPaths

__all__ = ["run_ccproxy", "wait_for"]


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
