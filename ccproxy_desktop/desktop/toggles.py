"""The menu's checkboxes as `Toggle`s: shell integration (`desktop.shell`), launch at login
(`desktop.autostart`) and Claude Code's status line (`desktop.claude_settings`). The protocol lets tests use a
fake; the adapters here call those modules."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from . import claude_settings, shell
from .autostart import Autostart

__all__ = [
    "AutostartToggle",
    "ShellToggle",
    "StatusLineToggle",
    "Toggle",
    "shell_toggle",
    "statusline_toggle",
]


class Toggle(Protocol):
    def is_on(self) -> bool: ...

    def turn_on(self) -> None:
        """Raises OSError (or a subclass's own error) with a message a person can act on."""
        ...

    def turn_off(self) -> None: ...


class ShellToggle:
    """The `claude` function in the user's shell rc file."""

    def __init__(
        self,
        which_shell: shell.Shell,
        home: Path,
        *,
        config_dir: Path | None,
        environ: Mapping[str, str],
        ccproxy_command: str | None = None,
    ) -> None:
        self.shell = which_shell
        self.home = home
        self.config_dir = config_dir
        self.environ = environ
        self.ccproxy_command = ccproxy_command or shell.locate_ccproxy(sys.executable, shutil.which)

    def is_on(self) -> bool:
        try:
            return shell.is_installed(self.shell, self.home, environ=self.environ)
        except (shell.ShellIntegrationError, OSError):
            return False

    def turn_on(self) -> None:
        shell.install(
            self.shell,
            self.home,
            ccproxy_command=self.ccproxy_command,
            config_dir=self.config_dir,
            environ=self.environ,
        )

    def turn_off(self) -> None:
        shell.uninstall(self.shell, self.home, environ=self.environ)


def shell_toggle(environ: Mapping[str, str], home: Path, config_dir: Path | None) -> ShellToggle | None:
    """The toggle for the user's shell ($SHELL), or None when it is not bash, zsh or fish. `config_dir` None:
    the snippet finds the config folder like ccproxy does ($CCPROXY_CONFIG_DIR or ~/.ccproxy)."""
    which_shell = shell.detect_shell(environ)
    if which_shell is None:
        return None
    return ShellToggle(which_shell, home, config_dir=config_dir, environ=environ)


class AutostartToggle:
    def __init__(self, autostart: Autostart | None = None) -> None:
        self.autostart = autostart or Autostart()

    def is_on(self) -> bool:
        return self.autostart.is_enabled()

    def turn_on(self) -> None:
        self.autostart.enable()

    def turn_off(self) -> None:
        self.autostart.disable()


class StatusLineToggle:
    """ccproxy's command as Claude Code's `statusLine` (the patch `ccproxy statusline --install` makes).
    `turn_on` raises `claude_settings.ForeignStatusLine` when the user has their own; `turn_on(wrap=True)` then
    wraps it (theirs runs, ours is appended)."""

    def __init__(self, path: Path, command: Callable[[str | None], str]) -> None:
        self.path = path
        self.command = command

    def is_on(self) -> bool:
        return claude_settings.is_installed(self.path)

    def turn_on(self, wrap: bool = False) -> None:
        claude_settings.install(self.path, self.command, wrap=wrap)

    def turn_off(self) -> None:
        claude_settings.uninstall(self.path)


def statusline_toggle(environ: Mapping[str, str], home: Path, config_dir: Path | None) -> StatusLineToggle:
    """The toggle for `$CLAUDE_CONFIG_DIR/settings.json` (or ~/.claude's); `config_dir` None: the command finds
    the config folder as ccproxy does."""
    from ..cli.statusline_commands import installed_command

    path = claude_settings.settings_file(home, environ)
    return StatusLineToggle(path, lambda wrapped: installed_command(config_dir, wrapped))
