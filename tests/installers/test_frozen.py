"""A frozen build runs our modules as itself: `EXE --ccproxy-run-module MODULE ARGS...` (ccproxy_desktop/frozen.py).

The entry points in installers/pyinstaller/ are run here by the plain interpreter, which executes exactly the code
a frozen executable starts with; the PyInstaller build itself is tested by the bundle test (see installers/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop import frozen
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.proxy.control import SERVER_MODULE, ProxyControl

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINTS = ("ccproxy_cli.py", "ccproxy_tray.py")


def test_a_venv_install_runs_python_dash_m() -> None:
    assert frozen.module_command("ccproxy_desktop.x", frozen=False, executable="/v/bin/python") == [
        "/v/bin/python",
        "-m",
        "ccproxy_desktop.x",
    ]


def test_a_frozen_build_runs_itself_with_the_module_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/ccproxy-desktop/ccproxy")
    assert ProxyControl(ConfigPaths(tmp_path))._command() == [
        "/opt/ccproxy-desktop/ccproxy",
        frozen.RUN_MODULE_FLAG,
        SERVER_MODULE,
    ]

    # Claude Code's statusLine command, installed from a frozen build, runs the same executable.
    from ccproxy_desktop.cli.statusline_commands import MODULE, installed_command

    assert installed_command(None, None) == f"/opt/ccproxy-desktop/ccproxy {frozen.RUN_MODULE_FLAG} {MODULE}"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_entry_point_hands_over_to_the_module_with_its_arguments(entry: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "installers" / "pyinstaller" / entry),
            frozen.RUN_MODULE_FLAG,
            "ccproxy_desktop.cli.main",
            "--version",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ccproxy"), done.stdout


def test_an_entry_point_refuses_a_module_not_ours() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "installers" / "pyinstaller" / "ccproxy_cli.py"),
            frozen.RUN_MODULE_FLAG,
            "http.server",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "needs a module of ccproxy_desktop" in done.stderr
