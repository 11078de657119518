"""`ccproxy install | validate | start | status | logs | run | stop | restart` as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.proxy


def ccproxy(config_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(config_dir.parent)}
    command = [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(config_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def test_install_writes_defaults_that_validate(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    result = ccproxy(config_dir, "install")
    assert result.returncode == 0
    assert (config_dir / "ccproxy.yaml").exists() and (config_dir / "config.yaml").exists()
    assert stat.S_IMODE((config_dir / "master.key").stat().st_mode) == 0o600
    again = ccproxy(config_dir, "install")
    assert "already" in again.stdout
    validated = ccproxy(config_dir, "validate")
    assert validated.returncode == 0, validated.stdout
    assert "valid" in validated.stdout


def test_install_force_keeps_a_backup(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    ccproxy(config_dir, "install")
    (config_dir / "ccproxy.yaml").write_text("ccproxy: {debug: true}\n")
    assert ccproxy(config_dir, "install", "--force").returncode == 0
    assert (config_dir / "ccproxy.yaml.bak").read_text() == "ccproxy: {debug: true}\n"


def test_validate_names_file_line_and_key(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    ccproxy(config_dir, "install")
    path = config_dir / "ccproxy.yaml"
    path.write_text(
        "ccproxy:\n  debug: false\n  defualt_model_passthrough: true\n  rules:\n    - name: x\n      rule: NoSuchRule\n"
    )
    result = ccproxy(config_dir, "validate")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"{path}:3: ccproxy.defualt_model_passthrough: unknown key (did you mean 'default_model_passthrough'?)"
        in lines
    )


def test_start_detach_reports_a_bad_config(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    ccproxy(config_dir, "install")
    (config_dir / "ccproxy.yaml").write_text(
        f"litellm: {{port: {free_port()}}}\nccproxy:\n  rules: [{{name: a, rule: TokenCountRule}}]\n"
    )
    result = ccproxy(config_dir, "start", "--detach")
    assert result.returncode != 0
    assert "ccproxy.yaml:3: ccproxy.rules[0].params" in result.stderr
    assert "threshold" in result.stderr


def test_start_detach_reports_a_taken_port(tmp_path: Path, provider: FakeProvider) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        write_fake_config(tmp_path / "cfg", provider.base_url, port)
        result = ccproxy(tmp_path / "cfg", "start", "--detach")
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"set another `port:` under `litellm:` in {tmp_path / 'cfg' / 'ccproxy.yaml'}" in result.stderr


def test_lifecycle_start_status_logs_run_restart_stop(tmp_path: Path, provider: FakeProvider) -> None:
    config_dir = tmp_path / "cfg"
    port = free_port()
    write_fake_config(config_dir, provider.base_url, port)
    stopped = json.loads(ccproxy(config_dir, "status", "--json").stdout)
    assert stopped["running"] is False and stopped["pid"] is None

    started = ccproxy(config_dir, "start", "--detach")
    try:
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        status = json.loads(ccproxy(config_dir, "status", "--json").stdout)
        assert status["running"] is True
        assert status["url"] == f"http://127.0.0.1:{port}"
        assert isinstance(status["pid"], int) and status["uptime_seconds"] >= 0
        assert status["config_dir"] == str(config_dir)
        assert status["model_override"] is None
        assert status["subscription"] is None  # no Claude subscription limits reported yet
        assert ccproxy(config_dir, "start", "--detach").returncode == 1  # already running

        key = (config_dir / "master.key").read_text().strip()
        printed = ccproxy(
            config_dir,
            "run",
            sys.executable,
            "-c",
            "import os; print(os.environ['ANTHROPIC_BASE_URL'], os.environ['ANTHROPIC_API_KEY'])",
        )
        assert printed.stdout.split() == [f"http://127.0.0.1:{port}", key]
        exit_code = ccproxy(config_dir, "run", sys.executable, "-c", "raise SystemExit(7)")
        assert exit_code.returncode == 7

        logs = ccproxy(config_dir, "logs", "-n", "5")
        assert logs.returncode == 0 and 0 < len(logs.stdout.splitlines()) <= 5
        assert key not in (config_dir / "proxy.log").read_text()

        restarted = ccproxy(config_dir, "restart")
        assert restarted.returncode == 0, restarted.stderr
        new_pid = json.loads(ccproxy(config_dir, "status", "--json").stdout)["pid"]
        assert new_pid != status["pid"]
    finally:
        result = ccproxy(config_dir, "stop")
    assert "stopped" in result.stdout
    assert json.loads(ccproxy(config_dir, "status", "--json").stdout)["running"] is False
    assert "not running" in ccproxy(config_dir, "stop").stdout


def test_run_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    result = ccproxy(tmp_path / "cfg", "run")
    assert result.returncode == 2
    assert "usage" in result.stderr
