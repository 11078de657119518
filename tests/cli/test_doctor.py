"""`ccproxy doctor` outside a desktop session: what it finds, and exit 1 on a broken config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.cli import doctor as doctor_module


def doctor(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    command = [sys.executable, "-m", "ccproxy_desktop", "--config-dir", str(config_dir), "doctor", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_a_healthy_config_on_a_headless_machine(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    subprocess.run(
        [sys.executable, "-m", "ccproxy_desktop", "--config-dir", str(config_dir), "install"], check=True
    )
    result = doctor(config_dir, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout) if c["name"] != "config" or c["status"] == "ok"}
    assert checks["litellm"]["status"] == "ok" and checks["litellm"]["detail"] == "1.108.7"
    assert checks["config"]["status"] == "ok"
    assert (
        checks["keyring"]["status"] == "warning"
        and "memory for this session only" in checks["keyring"]["detail"]
    )
    assert checks["notifications"]["status"] == "warning"
    assert checks["tray"]["status"] == "warning" and "headless" in checks["tray"]["detail"]


def test_a_broken_config_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    subprocess.run(
        [sys.executable, "-m", "ccproxy_desktop", "--config-dir", str(config_dir), "install"], check=True
    )
    (config_dir / "ccproxy.yaml").write_text("ccproxy:\n  rules:\n    - {name: x, rule: NoSuchRule}\n")
    result = doctor(config_dir)
    assert result.returncode == 1
    assert f"error  config: {config_dir / 'ccproxy.yaml'}:3: ccproxy.rules[0].rule:" in result.stdout


def test_a_display_without_pygobject_says_how_to_get_the_menu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr("ccproxy_desktop.desktop.backend.choose_backend", lambda environ: "xorg")
    check = doctor_module._tray()
    assert check.status == "warning"
    assert "no menu" in check.detail and "python3-gi" in check.detail and "[gtk]" in check.detail
