"""`ccproxy auth` against the session's real Secret Service (gnome-keyring): set, status, import-claude, remove.
The secret lives in the keyring (secret-tool reads it), never in the config folder, output or argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ccproxy_desktop.auth.store import SERVICE_NAME

TOKEN = "sk-ant-oat01-desktop-keyring-token"


def ccproxy(config_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(config_dir), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def secret_tool(username: str) -> str:
    result = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE_NAME, "username", username],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout


def test_auth_cli_round_trip_in_the_real_keyring(tmp_path: Path) -> None:
    config_dir = tmp_path / "cfg"
    assert ccproxy(config_dir, "install").returncode == 0
    stored = ccproxy(config_dir, "auth", "set", "anthropic", stdin=TOKEN)
    assert stored.returncode == 0, stored.stderr
    assert "Secret" in stored.stdout or "keyring" in stored.stdout.lower()
    assert TOKEN in secret_tool("anthropic")

    status = ccproxy(config_dir, "auth", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert TOKEN not in status.stdout
    rows = {row["provider"]: row for row in json.loads(status.stdout)["providers"]}
    assert rows["anthropic"]["stored"] is True and rows["anthropic"]["source"] == "stored"

    home = Path(os.environ["HOME"])
    claude = home / ".claude"
    claude.mkdir(exist_ok=True)
    login = {
        "claudeAiOauth": {
            "accessToken": "sk-ant-oat01-imported",
            "refreshToken": "sk-ant-ort01-imported",
            "expiresAt": int((time.time() + 3600) * 1000),
            "scopes": ["user:inference"],
        }
    }
    (claude / ".credentials.json").write_text(json.dumps(login))
    imported = ccproxy(config_dir, "auth", "import-claude")
    assert imported.returncode == 0, imported.stderr
    assert "sk-ant-oat01-imported" in secret_tool("anthropic")
    status = json.loads(ccproxy(config_dir, "auth", "status", "--json").stdout)
    row = next(r for r in status["providers"] if r["provider"] == "anthropic")
    assert row["source"] == "claude" and row["refreshable"] is True

    removed = ccproxy(config_dir, "auth", "remove", "anthropic")
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert secret_tool("anthropic") == ""
    for path in config_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and b"sk-ant-oat01-imported" not in data, path
