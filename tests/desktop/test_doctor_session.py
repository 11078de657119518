"""`ccproxy doctor` inside the desktop session: the keyring, the notification server and the tray are found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_doctor_finds_the_desktop(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    base = [sys.executable, "-m", "ccproxy_desktop", "--config-dir", str(config_dir)]
    subprocess.run([*base, "install"], check=True, capture_output=True)
    result = subprocess.run(
        [*base, "doctor", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout) if c["name"] != "config" or c["status"] == "ok"}
    assert checks["keyring"]["status"] == "ok"
    assert checks["notifications"]["status"] == "ok"
    assert checks["tray"]["status"] == "ok"
