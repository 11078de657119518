"""Run a command in a terminal window of the desktop's, for what must be typed where the tray can't ask:
a provider's key goes to `ccproxy provider add`'s hidden prompt, never through the tray or a notification.

The terminal is `$CCPROXY_TERMINAL` when set (a command line; the command is appended after it), else the
first of the usual emulators on PATH, each with its own way of taking a command. The window stays open after
the command ends (until Enter), so what it printed can be read.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

__all__ = ["NoTerminal", "TerminalLauncher", "terminal_command"]

# (program, the arguments that put a command after them), in the order they are tried.
_EMULATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("x-terminal-emulator", ("-e",)),  # Debian's alternative: whichever the desktop installed
    ("gnome-terminal", ("--",)),
    ("konsole", ("-e",)),
    ("xfce4-terminal", ("-x",)),
    ("mate-terminal", ("-x",)),
    ("tilix", ("-e",)),
    ("kitty", ()),
    ("alacritty", ("-e",)),
    ("wezterm", ("start", "--")),
    ("foot", ()),
    ("xterm", ("-e",)),
)


class NoTerminal(Exception):
    """No terminal emulator was found or it could not be started: the message says what to run instead."""


def _held(command: Sequence[str], title: str) -> list[str]:
    """`command` in a shell that waits for Enter once it has ended."""
    script = (
        f"printf '%s\\n\\n' {shlex.quote(title)}; {shlex.join(command)}; "
        "printf '\\nPress Enter to close this window. '; read _"
    )
    return ["sh", "-c", script]


def terminal_command(
    command: Sequence[str],
    title: str,
    environ: Mapping[str, str] | None = None,
    which: object = shutil.which,
    platform: str = sys.platform,
) -> list[str] | None:
    """The argv that shows `command` running in a terminal window, or None when there is no terminal."""
    env = os.environ if environ is None else environ
    held = _held(command, title)
    chosen = env.get("CCPROXY_TERMINAL", "").strip()
    if chosen:
        return [*shlex.split(chosen), *held]
    if platform == "darwin":
        script = shlex.join(held).replace("\\", "\\\\").replace('"', '\\"')
        return ["osascript", "-e", f'tell application "Terminal" to do script "{script}"']
    for program, flags in _EMULATORS:
        if which(program):  # type: ignore[operator]
            return [program, *flags, *held]
    return None


class TerminalLauncher:
    """Starts commands in terminal windows; returns at once (the window belongs to the desktop). Ended
    terminals are reaped on a later call."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._children: list[subprocess.Popen[bytes]] = []

    def run(
        self, command: Sequence[str], title: str, typed: str, env: Mapping[str, str] | None = None
    ) -> None:
        """Show `command` running under `title`. `typed` is what a person would type instead (said when
        there is no terminal)."""
        self._children = [child for child in self._children if child.poll() is None]
        argv = terminal_command(command, title, self._environ)
        if argv is None:
            raise NoTerminal(f"No terminal program was found. Run `{typed}` in a terminal.")
        try:
            child = subprocess.Popen(
                argv,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise NoTerminal(
                f"{argv[0]} could not be started ({exc.strerror or exc}). Run `{typed}` in a terminal."
            ) from exc
        self._children.append(child)
