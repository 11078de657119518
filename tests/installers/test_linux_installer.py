"""installers/linux/install.sh and uninstall.sh, run for real in a temporary home (whose path has a space)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ccproxy_desktop import __version__

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "installers" / "linux" / "install.sh"
UNINSTALL = REPO / "installers" / "linux" / "uninstall.sh"
ICON_SIZES = (16, 32, 48, 64, 128, 256)
SCRIPT_TIMEOUT_S = 300


def user_environment(home: Path) -> dict[str, str]:
    """This process's environment as a user with `home` and no XDG or ccproxy settings would have it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "CCPROXY_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(home)
    return env


def run(*command: str | Path, env: dict[str, str], expect_exit: int = 0) -> str:
    done = subprocess.run(
        [str(part) for part in command], env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
    )
    assert done.returncode == expect_exit, (
        f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout + done.stderr


def tree(home: Path) -> set[str]:
    """Every path under `home` (links not followed) but the build tools' own state (pip's cache; a rustup on
    PATH writes ~/.rustup when pip's build runs it): what the scripts create and remove."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            relative = os.path.relpath(os.path.join(folder, name), home)
            if not relative.startswith((".cache", ".rustup")):
                found.add(relative)
    return found


def desktop_entry_keys(path: Path) -> dict[str, str]:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.fail("desktop-file-validate is missing: apt-get install desktop-file-utils", pytrace=False)
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines[1:])


def exec_argv(exec_value: str) -> list[str]:
    """The Exec value as argv: its quoting is the shell's double quoting (string escapes: none expected)."""
    done = subprocess.run(["bash", "-c", f'printf "%s\\0" {exec_value}'], capture_output=True, text=True)
    return done.stdout.split("\0")[:-1]


def check_installed(home: Path, prefix: Path, env: dict[str, str]) -> None:
    """What a user finds after install.sh --autostart."""
    assert "include-system-site-packages = true" in (prefix / "pyvenv.cfg").read_text()
    module_file = run(
        prefix / "bin" / "python", "-I", "-c", "import ccproxy_desktop as m; print(m.__file__)", env=env
    )
    assert Path(module_file.strip()).is_relative_to(prefix), "the venv runs its own copy, not the checkout"

    assert (
        run(home / ".local" / "bin" / "ccproxy", "--version", env=env).strip()
        == f"ccproxy-desktop {__version__}"
    )
    assert (home / ".local" / "bin" / "ccproxy").readlink() == prefix / "bin" / "ccproxy"

    tray = prefix / "bin" / "ccproxy-desktop"
    assert os.access(tray, os.X_OK)
    menu = desktop_entry_keys(home / ".local" / "share" / "applications" / "ccproxy-desktop.desktop")
    autostart = desktop_entry_keys(home / ".config" / "autostart" / "ccproxy-desktop.desktop")
    for entry in (menu, autostart):
        assert exec_argv(entry["Exec"]) == [str(tray)]
        assert entry["Icon"] == "ccproxy-desktop"
    assert autostart["X-GNOME-Autostart-enabled"] == "true"
    assert "X-GNOME-Autostart-enabled" not in menu

    icons = home / ".local" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        with Image.open(icons / f"{size}x{size}" / "apps" / "ccproxy-desktop.png") as icon:
            assert icon.size == (size, size)
    assert (icons / "scalable" / "apps" / "ccproxy-desktop.svg").read_bytes() == (
        REPO / "assets" / "ccproxy-desktop.svg"
    ).read_bytes()


def test_install_twice_then_uninstall_leaves_only_the_config_folder(tmp_path: Path) -> None:
    home = tmp_path / "home of J. Doe"
    own_script = home / ".local" / "bin" / "ccproxy-desktop"
    own_script.parent.mkdir(parents=True)
    own_script.write_text("#!/bin/sh\necho mine\n")
    env = user_environment(home)
    prefix = home / ".local" / "share" / "ccproxy-desktop" / "venv"
    before = tree(home)
    install = (INSTALL, "--python", sys.executable, "--system-site-packages", "--autostart")

    out = run("bash", *install, env=env)
    assert f"installed ccproxy-desktop {__version__}" in out
    assert f"leaving {own_script} alone" in out
    assert own_script.read_text() == "#!/bin/sh\necho mine\n"
    config_dir = home / ".ccproxy"
    run(home / ".local" / "bin" / "ccproxy", "--config-dir", config_dir, "install", env=env)
    assert (config_dir / "ccproxy.yaml").is_file()
    assert (config_dir / "config.yaml").is_file()
    check_installed(home, prefix, env)
    installed = tree(home)

    run("bash", *install, env=env)
    check_installed(home, prefix, env)
    assert {p for p in tree(home) if "venv" not in p} == {p for p in installed if "venv" not in p}

    out = run("bash", UNINSTALL, env=env)
    assert f"kept your config folder {config_dir}" in out
    assert {p for p in tree(home) if not p.startswith(".ccproxy")} == before
    assert own_script.read_text() == "#!/bin/sh\necho mine\n"

    run("bash", UNINSTALL, env=env)
    out = run("bash", UNINSTALL, "--purge", env=env)
    assert f"removed the config folder {config_dir}" in out
    assert tree(home) == before


def test_uninstall_leaves_entries_of_another_installation_alone(tmp_path: Path) -> None:
    env = user_environment(tmp_path)
    entry = tmp_path / ".config" / "autostart" / "ccproxy-desktop.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text(
        "[Desktop Entry]\nExec=/opt/other/bin/ccproxy-desktop\nTryExec=/opt/other/bin/ccproxy-desktop\n"
    )
    out = run("bash", UNINSTALL, env=env)
    assert f"leaving {entry} alone" in out
    assert entry.is_file()


def test_uninstall_refuses_a_prefix_that_is_not_a_venv(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    out = run("bash", UNINSTALL, "--prefix", tmp_path, env=user_environment(tmp_path), expect_exit=1)
    assert "is not a virtual environment" in out
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_install_refuses_a_prefix_that_is_not_a_venv(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    out = run("bash", INSTALL, "--prefix", tmp_path, env=user_environment(tmp_path), expect_exit=1)
    assert "is not a virtual environment" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_purge_without_an_installation_removes_only_the_config_folder(tmp_path: Path) -> None:
    env = user_environment(tmp_path)
    (tmp_path / ".ccproxy").mkdir()
    (tmp_path / ".ccproxy" / "ccproxy.yaml").write_text("ccproxy: {}\n")
    (tmp_path / "other").mkdir()
    run("bash", UNINSTALL, "--purge", env=env)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


def test_install_help_documents_the_speed_options(tmp_path: Path) -> None:
    out = run("bash", INSTALL, "--help", env=user_environment(tmp_path))
    assert re.search(r"--system-site-packages\s+let the venv see PYTHON's installed packages", out)
    assert "--pip-args ARGS" in out
    assert "--autostart" in out
