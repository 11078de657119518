"""Launch at login: the tray's "Launch at login" checkbox, `installers/linux/install.sh --autostart` and
`python -m ccproxy_desktop.desktop.autostart enable|disable|status`.

One file per platform, in the place the desktop itself looks for it; `enable` writes it, `disable` removes it:
  - Linux (and other XDG desktops): `$XDG_CONFIG_HOME/autostart/ccproxy-desktop.desktop`, a Desktop Entry.
  - macOS: `~/Library/LaunchAgents/dev.ccproxy.desktop.plist`, a LaunchAgent that launchd loads at the next login.
    We do not call `launchctl`: bootstrapping a RunAtLoad agent from the running tray would start a second tray,
    and booting it out would kill the tray if launchd started it.
  - Windows: `%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\ccproxy-desktop.cmd`. A Startup-folder
    file rather than the registry's Run key: it has the same file semantics as the other two (so it is tested
    on any OS), needs no `winreg`, and users see it, and can remove it, where Windows documents startup programs.
    The price is a console window that flashes for a moment at login while `start` hands over to the GUI exe.

The command started is the `ccproxy-desktop` GUI script of the environment this code runs in (see
`launcher_command`), so the entry starts the same installation that wrote it.

`desktop_entry`, `launch_agent_plist`, `startup_cmd` and `autostart_file` are pure, `launcher_command` only looks
for files; `Autostart` is the adapter that reads and writes the entry.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import shutil
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal
from xml.parsers.expat import ExpatError

from ..config.paths import atomic_write

__all__ = [
    "APP_ID",
    "ICON_NAME",
    "LAUNCH_AGENT_LABEL",
    "Autostart",
    "Platform",
    "autostart_file",
    "current_platform",
    "desktop_entry",
    "launch_agent_log",
    "launch_agent_plist",
    "launcher_command",
    "main",
    "startup_cmd",
]

Platform = Literal["linux", "darwin", "win32"]

APP_ID: Final = "ccproxy-desktop"
"""The GUI script's name, and the base name of the desktop entry, the icon and the Startup file."""

ICON_NAME: Final = APP_ID
"""The icon theme name (`hicolor/<size>/apps/ccproxy-desktop.png`, installed by installers/linux/install.sh)."""

LAUNCH_AGENT_LABEL: Final = "dev.ccproxy.desktop"

_DISPLAY_NAME: Final = "ccproxy-desktop"
_COMMENT: Final = "Local LLM proxy for Claude Code: routing, costs and budgets from the tray"

# Characters that make the Desktop Entry spec require quoting an Exec argument; inside the quotes the second set
# is escaped with a backslash.
_EXEC_RESERVED: Final = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_EXEC_ESCAPED: Final = frozenset('"`$\\')


def current_platform(sys_platform: str = sys.platform) -> Platform:
    """The autostart mechanism for `sys.platform`: XDG for everything that is neither macOS nor Windows."""
    if sys_platform == "darwin":
        return "darwin"
    if sys_platform == "win32":
        return "win32"
    return "linux"


def autostart_file(platform: Platform, home: Path, environ: Mapping[str, str]) -> Path:
    """Where the autostart entry of `platform` lives for the user whose home is `home`."""
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
    if platform == "win32":
        appdata = environ.get("APPDATA")
        roaming = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return roaming / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup" / f"{APP_ID}.cmd"
    config_home = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    base = Path(config_home) if os.path.isabs(config_home) else home / ".config"
    return base / "autostart" / f"{APP_ID}.desktop"


def launch_agent_log(home: Path) -> Path:
    """Where the LaunchAgent sends the tray's stdout and stderr."""
    return home / "Library" / "Logs" / f"{APP_ID}.log"


def launcher_command(
    platform: Platform,
    *,
    python: Path,
    scripts_dir: Path,
    frozen: bool = False,
    search_path: str | None = None,
    is_file: Callable[[Path], bool] = Path.is_file,
) -> tuple[str, ...]:
    """The command that starts the tray of the environment whose interpreter is `python`.

    In order: the `ccproxy-desktop` GUI script next to `python` (a venv's `bin/`, a py2app bundle's
    `Contents/MacOS/`, a PyInstaller folder) or in `scripts_dir` (`sysconfig`'s scripts folder: Windows keeps
    scripts in `Scripts\\` beside a base install's python.exe); one on `search_path` (PATH); the frozen
    executable itself with `tray`; `python -m ccproxy_desktop tray` (pythonw.exe on Windows: no console).
    `python` is used as given, not resolved: a venv's interpreter is a symlink to the base one.
    """
    name = f"{APP_ID}.exe" if platform == "win32" else APP_ID
    for folder in (python.parent, scripts_dir):
        if is_file(folder / name):
            return (str(folder / name),)
    found = shutil.which(name, path=search_path)
    if found:
        return (str(Path(found).absolute()),)
    if frozen:
        return (str(python), "tray")
    interpreter = python
    if platform == "win32" and is_file(python.with_name("pythonw.exe")):
        interpreter = python.with_name("pythonw.exe")
    return (str(interpreter), "-m", "ccproxy_desktop", "tray")


def _exec_argument(arg: str) -> str:
    if not arg or any(c in _EXEC_RESERVED for c in arg):
        arg = '"' + "".join(f"\\{c}" if c in _EXEC_ESCAPED else c for c in arg) + '"'
    return arg.replace("%", "%%")


def _string_value(text: str) -> str:
    """A Desktop Entry `string` value: backslash and control characters escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def desktop_entry(command: Sequence[str], *, autostart: bool) -> str:
    """A Desktop Entry that starts `command`: the application-menu entry, or the autostart one.

    Spec version 1.4: the newest that Debian 12's desktop-file-validate (0.26) accepts; nothing of 1.5 is used.

    `TryExec` makes the desktop skip the entry once the executable is gone (an uninstalled or moved venv).
    """
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={_DISPLAY_NAME}",
        "GenericName=LLM Proxy",
        f"Comment={_COMMENT}",
        "Exec=" + _string_value(" ".join(_exec_argument(arg) for arg in command)),
        "TryExec=" + _string_value(command[0]),
        f"Icon={ICON_NAME}",
        "Terminal=false",
        "Categories=Development;Utility;",
        "Keywords=Claude;LLM;proxy;LiteLLM;",
        "StartupNotify=false",
    ]
    if autostart:
        lines.append("X-GNOME-Autostart-enabled=true")
    return "\n".join(lines) + "\n"


def launch_agent_plist(command: Sequence[str], log_path: Path) -> bytes:
    """A LaunchAgent that starts `command` once at each GUI login and does not restart it when it quits."""
    agent = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": False,
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
        "StandardOutPath": str(log_path),
        "StandardErrorPath": str(log_path),
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML)


def startup_cmd(command: Sequence[str]) -> str:
    """A Startup-folder batch file that starts `command` and lets its own console close at once.

    UTF-8 with `chcp 65001` so that a non-ASCII user folder survives; `%` doubled, every argument quoted.
    """
    if any('"' in arg for arg in command):
        raise ValueError(f"a Windows command line argument cannot contain a double quote: {command!r}")
    arguments = " ".join(f'"{arg}"'.replace("%", "%%") for arg in command)
    return "\r\n".join(["@echo off", "chcp 65001 >nul", f'start "" {arguments}', ""])


def _desktop_entry_keys(text: str) -> dict[str, str]:
    """The keys of the `[Desktop Entry]` group (enough to read what a session manager reads)."""
    keys: dict[str, str] = {}
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


class Autostart:
    """The launch-at-login entry of one user on one platform (by default: this user, this machine).

    `home`, `environ` (XDG_CONFIG_HOME, APPDATA, PATH) and `command` are injectable for tests; `command`
    defaults to `launcher_command` for the running interpreter. Methods raise `OSError` when the file
    cannot be written or removed; they are quick and safe to call from a tray callback.
    """

    def __init__(
        self,
        *,
        platform: Platform | None = None,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.platform: Platform = platform or current_platform()
        self.home = home if home is not None else Path.home()
        env = os.environ if environ is None else environ
        self.path = autostart_file(self.platform, self.home, env)
        self.command: tuple[str, ...] = (
            tuple(command)
            if command is not None
            else launcher_command(
                self.platform,
                python=Path(sys.executable),
                scripts_dir=Path(sysconfig.get_path("scripts")),
                frozen=bool(getattr(sys, "frozen", False)),
                search_path=env.get("PATH", os.defpath),
            )
        )

    def content(self) -> bytes:
        """What `enable` writes."""
        if self.platform == "darwin":
            return launch_agent_plist(self.command, launch_agent_log(self.home))
        if self.platform == "win32":
            return startup_cmd(self.command).encode()
        return desktop_entry(self.command, autostart=True).encode()

    def is_enabled(self) -> bool:
        """Whether the desktop will start the tray at the next login.

        False too when the entry exists but was switched off by the desktop's own settings (GNOME's
        `X-GNOME-Autostart-enabled=false`, `Hidden=true`; a LaunchAgent's `Disabled`) or cannot be read by it.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        if self.platform == "darwin":
            try:
                agent = plistlib.loads(data)
            except (ValueError, ExpatError):  # plistlib.InvalidFileException is a ValueError
                return False
            return isinstance(agent, dict) and agent.get("Disabled") is not True
        if self.platform == "win32":
            return True
        keys = _desktop_entry_keys(data.decode(errors="replace"))
        return keys.get("Hidden") != "true" and keys.get("X-GNOME-Autostart-enabled") != "false"

    def enable(self) -> Path:
        """Write the entry for `command` (replacing any previous one, atomically) and return its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.platform == "darwin":
            launch_agent_log(self.home).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, self.content(), None)
        return self.path

    def disable(self) -> None:
        """Remove the entry; nothing happens when there is none."""
        self.path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ccproxy_desktop.desktop.autostart enable|disable|status|desktop-entry`."""
    parser = argparse.ArgumentParser(
        prog="python -m ccproxy_desktop.desktop.autostart", description="Launch ccproxy-desktop at login."
    )
    parser.add_argument(
        "action",
        choices=["enable", "disable", "status", "desktop-entry"],
        help="desktop-entry prints the application-menu entry for this environment",
    )
    args = parser.parse_args(argv)
    autostart = Autostart()
    if args.action == "enable":
        print(f"autostart: enabled: wrote {autostart.enable()}")
    elif args.action == "disable":
        existed = autostart.path.exists()
        autostart.disable()
        print(f"autostart: disabled: {'removed' if existed else 'there was no'} {autostart.path}")
    elif args.action == "status":
        state = "enabled" if autostart.is_enabled() else "disabled"
        print(f"autostart: {state} ({autostart.path}): {' '.join(autostart.command)}")
    else:
        sys.stdout.write(desktop_entry(autostart.command, autostart=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
