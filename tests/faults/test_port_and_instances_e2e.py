"""Process faults at start-up: the port taken by another program, and two trays (or proxies) started at once.
(`ccproxy start --detach` with the port taken: tests/cli/test_proxy_commands.py.)

`ccproxy tray` on a machine without a display runs the proxy in the foreground (as `ccproxy start`): two of
them at once must end with exactly one proxy and the other one saying why it stopped. The tray's supervisor
must turn "port taken" into an error state naming the port and the fix, not a restart loop.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.desktop.menu import status_line
from ccproxy_desktop.desktop.proxy_port import LocalProxy
from ccproxy_desktop.desktop.state import ProxyStatus
from ccproxy_desktop.desktop.supervisor import Supervisor
from ccproxy_desktop.proxy.control import EXIT_PORT, EXIT_RUNNING, ProxyControl
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import proxy_processes, wait_for

pytestmark = pytest.mark.proxy

PROXY_START_S = 150.0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on (no SO_REUSEADDR games: a plain listening socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def headless_env(paths: ConfigPaths) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["CCPROXY_CONFIG_DIR"] = str(paths.config_dir)
    return env


def tray_command(paths: ConfigPaths) -> list[str]:
    return [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(paths.config_dir), "tray"]


def test_headless_tray_names_the_taken_port(provider: FakeProvider, tmp_path: Path, taken_port: int) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, taken_port)
    done = subprocess.run(
        tray_command(paths), env=headless_env(paths), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == EXIT_PORT
    assert "no display: running the proxy headless" in done.stdout
    assert f"port {taken_port} on 127.0.0.1 is already in use by another program" in done.stderr


def test_the_supervisor_shows_the_taken_port_as_an_error_instead_of_restarting(
    provider: FakeProvider, tmp_path: Path, taken_port: int
) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, taken_port)
    seen: list[tuple[ProxyStatus, str]] = []
    supervisor = Supervisor(
        LocalProxy(ProxyControl(paths)), time.monotonic, lambda s, t: seen.append((s, t)), backoff_initial=0.1
    )
    for _ in range(3):
        time.sleep(min(supervisor.step(), 0.5))  # a retry would be due within 0.1 s: none must come
    assert [t for _, t in seen if t != "changed"] == ["gave_up"]
    status = supervisor.status
    assert status.phase == "error"
    assert (
        status_line(status) == f"Error: port {taken_port} on 127.0.0.1 is already in use by another program"
    )
    assert f"set another `port:` under `litellm:` in {paths.ccproxy_yaml}" in (status.reason or "")
    log = paths.proxy_log.read_text()
    assert log.count("is already in use") == 1, "the proxy was started more than once"


def test_two_headless_trays_started_at_once_run_one_proxy(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    env = headless_env(paths)
    outputs = [tmp_path / "first.out", tmp_path / "second.out"]
    trays = []
    for output in outputs:
        with output.open("wb") as sink:
            trays.append(
                subprocess.Popen(tray_command(paths), env=env, stdout=sink, stderr=subprocess.STDOUT)
            )
    try:
        wait_for(lambda: any(tray.poll() is not None for tray in trays), timeout=60)
        loser = next(i for i, tray in enumerate(trays) if tray.poll() is not None)
        winner = trays[1 - loser]
        assert trays[loser].returncode == EXIT_RUNNING
        said = outputs[loser].read_text()
        assert (
            f"another proxy of {paths.config_dir} is already running or starting (pid {winner.pid})" in said
        )

        control = ProxyControl(paths)
        wait_for(lambda: (s := control.state()) is not None and control.healthy(s.url), timeout=PROXY_START_S)
        state = control.state()
        assert state is not None and state.pid == winner.pid  # `tray` execs the proxy in its own process
        assert proxy_processes(paths) == [winner.pid]
        assert winner.poll() is None
    finally:
        ProxyControl(paths).stop()
        for tray in trays:
            if tray.poll() is None:
                tray.kill()
            tray.wait(timeout=30)
