"""Launch at login on all three platforms, written into a temporary home on this machine."""

from __future__ import annotations

import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.desktop import autostart
from ccproxy_desktop.desktop.autostart import (
    Autostart,
    Platform,
    autostart_file,
    current_platform,
    desktop_entry,
    launch_agent_plist,
    launcher_command,
    startup_cmd,
)

PLATFORMS: list[Platform] = ["linux", "darwin", "win32"]
COMMAND = ("/opt/ccproxy desktop/bin/ccproxy-desktop",)


def desktop_file_validate(path: Path) -> str:
    """Runs freedesktop.org's validator on `path`; fails the test on errors, returns its hints."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.fail("desktop-file-validate is missing: apt-get install desktop-file-utils", pytrace=False)
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def entry_keys(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:])


def exec_argv(exec_value: str) -> list[str]:
    """The argv a desktop builds from an Exec value: string escapes undone, then quoting parsed. The Desktop
    Entry spec's quoting is the shell's double quoting, so bash is the independent parser here."""
    unescaped = re.sub(
        r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), exec_value
    )
    done = subprocess.run(
        ["bash", "-c", f'printf "%s\\0" {unescaped}'], capture_output=True, text=True, check=True
    )
    return [arg.replace("%%", "%") for arg in done.stdout.split("\0")[:-1]]


def expected_file(platform: Platform, home: Path) -> Path:
    return {
        "linux": home / ".config" / "autostart" / "ccproxy-desktop.desktop",
        "darwin": home / "Library" / "LaunchAgents" / "dev.ccproxy.desktop.plist",
        "win32": home
        / "AppData"
        / "Roaming"
        / "Microsoft"
        / "Windows"
        / "Start Menu"
        / "Programs"
        / "Startup"
        / "ccproxy-desktop.cmd",
    }[platform]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_enable_writes_the_entry_and_disable_removes_it(tmp_path: Path, platform: Platform) -> None:
    home = tmp_path / "home"
    entry = Autostart(platform=platform, home=home, environ={}, command=COMMAND)
    assert not entry.is_enabled()

    path = entry.enable()

    assert path == expected_file(platform, home)
    assert entry.is_enabled()
    written = path.read_bytes()
    if platform == "linux":
        assert written.decode() == desktop_entry(COMMAND, autostart=True)
    elif platform == "darwin":
        assert plistlib.loads(written)["ProgramArguments"] == list(COMMAND)
        assert (home / "Library" / "Logs").is_dir()
    else:
        assert written.decode() == startup_cmd(COMMAND)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"

    assert entry.enable() == path
    assert path.read_bytes() == written
    assert entry.is_enabled()

    entry.disable()
    assert not path.exists()
    assert not entry.is_enabled()
    entry.disable()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_enable_replaces_an_entry_for_another_installation(tmp_path: Path, platform: Platform) -> None:
    old = Autostart(platform=platform, home=tmp_path, environ={}, command=("/old/venv/bin/ccproxy-desktop",))
    new = Autostart(platform=platform, home=tmp_path, environ={}, command=COMMAND)
    old.enable()
    new.enable()
    assert new.path.read_bytes() == new.content()


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {"XDG_CONFIG_HOME": "/xdg/config"}, "/xdg/config/autostart/ccproxy-desktop.desktop"),
        (
            "linux",
            {"XDG_CONFIG_HOME": "relative/config"},
            "/home/u/.config/autostart/ccproxy-desktop.desktop",
        ),
        ("linux", {"XDG_CONFIG_HOME": ""}, "/home/u/.config/autostart/ccproxy-desktop.desktop"),
        ("darwin", {"XDG_CONFIG_HOME": "/xdg"}, "/home/u/Library/LaunchAgents/dev.ccproxy.desktop.plist"),
        (
            "win32",
            {"APPDATA": "/profile/Roaming"},
            "/profile/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/ccproxy-desktop.cmd",
        ),
    ],
)
def test_autostart_file_follows_the_platform_conventions(
    platform: Platform, environ: dict[str, str], expected: str
) -> None:
    assert autostart_file(platform, Path("/home/u"), environ) == Path(expected)


@pytest.mark.parametrize(
    ("sys_platform", "expected"),
    [
        ("linux", "linux"),
        ("freebsd14", "linux"),
        ("darwin", "darwin"),
        ("win32", "win32"),
    ],
)
def test_current_platform(sys_platform: str, expected: Platform) -> None:
    assert current_platform(sys_platform) == expected


@pytest.mark.parametrize(
    "switched_off",
    ["X-GNOME-Autostart-enabled=false", "Hidden=true"],
)
def test_an_entry_switched_off_by_the_desktop_is_not_enabled_until_enabled_again(
    tmp_path: Path, switched_off: str
) -> None:
    entry = Autostart(platform="linux", home=tmp_path, environ={}, command=COMMAND)
    entry.enable()
    entry.path.write_text(
        desktop_entry(COMMAND, autostart=True).replace("X-GNOME-Autostart-enabled=true", switched_off)
    )
    assert not entry.is_enabled()
    entry.enable()
    assert entry.is_enabled()


@pytest.mark.parametrize(
    "content", [plistlib.dumps({"Label": "dev.ccproxy.desktop", "Disabled": True}), b"<?xml", b"", b"junk"]
)
def test_a_disabled_or_unreadable_launch_agent_is_not_enabled(tmp_path: Path, content: bytes) -> None:
    entry = Autostart(platform="darwin", home=tmp_path, environ={}, command=COMMAND)
    entry.path.parent.mkdir(parents=True)
    entry.path.write_bytes(content)
    assert not entry.is_enabled()


@pytest.mark.parametrize("autostart_entry", [True, False])
@pytest.mark.parametrize(
    "command",
    [
        ("/home/me/.local/share/ccproxy-desktop/venv/bin/ccproxy-desktop",),
        ('/home/J. Doe/it\'s $HOME/50%\\x/"q"/`b`/python3', "-m", "ccproxy_desktop", "tray"),
    ],
)
def test_desktop_entry_is_valid_and_starts_the_command(
    tmp_path: Path, command: tuple[str, ...], autostart_entry: bool
) -> None:
    text = desktop_entry(command, autostart=autostart_entry)
    path = tmp_path / "ccproxy-desktop.desktop"
    path.write_text(text)

    desktop_file_validate(path)
    keys = entry_keys(text)
    assert exec_argv(keys["Exec"]) == list(command)
    assert keys["Type"] == "Application"
    assert keys["Icon"] == "ccproxy-desktop"
    assert keys["Terminal"] == "false"
    assert keys["Categories"] == "Development;Utility;"
    assert ("X-GNOME-Autostart-enabled" in keys) == autostart_entry


def test_launch_agent_plist_starts_the_command_once_at_login() -> None:
    agent = plistlib.loads(
        launch_agent_plist(
            ("/Applications/ccproxy-desktop.app/Contents/MacOS/ccproxy-desktop",), Path("/l.log")
        )
    )
    assert agent == {
        "Label": "dev.ccproxy.desktop",
        "ProgramArguments": ["/Applications/ccproxy-desktop.app/Contents/MacOS/ccproxy-desktop"],
        "RunAtLoad": True,
        "KeepAlive": False,
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
        "StandardOutPath": "/l.log",
        "StandardErrorPath": "/l.log",
    }


def test_launch_agent_logs_into_the_users_library(tmp_path: Path) -> None:
    entry = Autostart(platform="darwin", home=tmp_path, environ={}, command=COMMAND)
    agent = plistlib.loads(entry.content())
    assert agent["StandardOutPath"] == str(tmp_path / "Library" / "Logs" / "ccproxy-desktop.log")


@pytest.mark.parametrize(
    ("command", "expected_start"),
    [
        (
            (r"C:\Users\José\ccproxy\Scripts\ccproxy-desktop.exe",),
            r'start "" "C:\Users\José\ccproxy\Scripts\ccproxy-desktop.exe"',
        ),
        (
            (r"C:\100%\Scripts\pythonw.exe", "-m", "ccproxy_desktop", "tray"),
            r'start "" "C:\100%%\Scripts\pythonw.exe" "-m" "ccproxy_desktop" "tray"',
        ),
    ],
)
def test_startup_cmd_starts_the_command_without_waiting(
    command: tuple[str, ...], expected_start: str
) -> None:
    assert startup_cmd(command) == f"@echo off\r\nchcp 65001 >nul\r\n{expected_start}\r\n"


def test_startup_cmd_refuses_an_argument_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="double quote"):
        startup_cmd(('C:\\a"b.exe',))


def make_files(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


@pytest.mark.parametrize(
    ("platform", "files", "frozen", "expected"),
    [
        ("linux", ["venv/bin/python", "venv/bin/ccproxy-desktop"], False, ["venv/bin/ccproxy-desktop"]),
        (
            "win32",
            ["py/python.exe", "py/Scripts/ccproxy-desktop.exe"],
            False,
            ["py/Scripts/ccproxy-desktop.exe"],
        ),
        ("linux", ["venv/bin/python", "path/ccproxy-desktop"], False, ["path/ccproxy-desktop"]),
        ("darwin", ["app/MacOS/python", "app/MacOS/ccproxy-desktop"], True, ["app/MacOS/ccproxy-desktop"]),
        ("win32", ["dist/ccproxy.exe"], True, ["dist/ccproxy.exe", "tray"]),
        ("linux", ["venv/bin/python"], False, ["venv/bin/python", "-m", "ccproxy_desktop", "tray"]),
        (
            "win32",
            ["py/python.exe", "py/pythonw.exe"],
            False,
            ["py/pythonw.exe", "-m", "ccproxy_desktop", "tray"],
        ),
    ],
)
def test_launcher_command_prefers_the_gui_script_of_the_running_environment(
    tmp_path: Path, platform: Platform, files: list[str], frozen: bool, expected: list[str]
) -> None:
    make_files(tmp_path, *files)
    (tmp_path / "path").mkdir(exist_ok=True)
    for name in files:
        (tmp_path / name).chmod(0o755)
    python = tmp_path / files[0]
    command = launcher_command(
        platform,
        python=python,
        scripts_dir=python.parent / "Scripts",
        frozen=frozen,
        search_path=str(tmp_path / "path"),
    )
    assert command == tuple(str(tmp_path / part) if "/" in part else part for part in expected)


def test_launcher_command_does_not_resolve_the_venv_interpreter_symlink(tmp_path: Path) -> None:
    make_files(tmp_path, "base/bin/python3.11", "base/bin/ccproxy-desktop", "venv/bin/ccproxy-desktop")
    (tmp_path / "venv/bin/python").symlink_to(tmp_path / "base/bin/python3.11")
    command = launcher_command(
        "linux", python=tmp_path / "venv/bin/python", scripts_dir=tmp_path / "none", search_path=""
    )
    assert command == (str(tmp_path / "venv/bin/ccproxy-desktop"),)


def test_the_default_command_is_this_environments_tray() -> None:
    command = Autostart(platform="linux", home=Path("/nowhere"), environ={}).command
    assert Path(command[0]).parent in (Path(sys.executable).parent, Path(sys.prefix) / "bin")
    assert command[0].endswith("ccproxy-desktop") or command[1:] == ("-m", "ccproxy_desktop", "tray")


def test_module_command_line_enables_reports_and_disables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tmp_path / "config" / "autostart" / "ccproxy-desktop.desktop"

    assert autostart.main(["enable"]) == 0
    assert path.is_file()
    assert autostart.main(["status"]) == 0
    assert autostart.main(["disable"]) == 0
    assert not path.exists()
    assert autostart.main(["status"]) == 0
    assert autostart.main(["desktop-entry"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"autostart: enabled: wrote {path}"
    assert out[1].startswith(f"autostart: enabled ({path}): ")
    assert out[2] == f"autostart: disabled: removed {path}"
    assert out[3].startswith(f"autostart: disabled ({path}): ")
    assert out[4] == "[Desktop Entry]"
    assert "X-GNOME-Autostart-enabled=true" not in out
