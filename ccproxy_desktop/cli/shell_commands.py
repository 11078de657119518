"""`ccproxy shell-integration`: print, install or remove the `claude` shell function (see desktop/shell.py)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from ..config.paths import ConfigPaths
from ..desktop.shell import (
    InstallResult,
    Shell,
    ShellIntegrationError,
    detect_shell,
    install,
    locate_ccproxy,
    snippet,
    uninstall,
)

__all__ = ["shell_integration"]

FORGET_FUNCTION: dict[Shell, str] = {
    "bash": "unset -f claude",
    "zsh": "unfunction claude",
    "fish": "functions --erase claude",
}


def _err(message: str) -> None:
    print(f"ccproxy: {message}", file=sys.stderr)


def shell_integration(paths: ConfigPaths, args: argparse.Namespace) -> int:
    """Without --install/--uninstall print the snippet (to paste or eval); otherwise edit the rc file.

    The config folder is fixed in the snippet only when given with `ccproxy --config-dir`; otherwise the
    function finds it on every call like ccproxy does.
    """
    shell: Shell | None = args.shell or detect_shell(os.environ)
    if shell is None:
        found = os.environ.get("SHELL") or "not set"
        _err(f"can't tell your shell from $SHELL ({found}); pass --shell bash, zsh or fish")
        return 2
    config_dir = paths.config_dir if getattr(args, "config_dir", None) else None
    ccproxy = locate_ccproxy(sys.executable, shutil.which)
    if not (args.install or args.uninstall):
        sys.stdout.write(snippet(shell, ccproxy, config_dir))
        return 0
    try:
        if args.install:
            result = install(shell, Path.home(), ccproxy_command=ccproxy, config_dir=config_dir)
        else:
            result = uninstall(shell, Path.home())
    except (ShellIntegrationError, OSError) as exc:
        _err(str(exc))
        return 1
    print(_report(result))
    return 0


HEADLINES: dict[str, str] = {
    "created": "created {path} with the ccproxy shell integration",
    "added": "added the ccproxy shell integration to {path}",
    "updated": "updated the ccproxy shell integration in {path}",
    "unchanged": "the ccproxy shell integration is already in {path}; nothing changed",
    "removed": "removed the ccproxy shell integration from {path}",
    "deleted": "deleted {path}: it held only the ccproxy shell integration",
    "not-installed": "the ccproxy shell integration is not in {path}; nothing changed",
}


def _report(result: InstallResult) -> str:
    """What changed, where the previous content is kept, and what the user does next."""
    lines = [HEADLINES[result.action].format(path=result.path)]
    if result.backup:
        lines[0] += f" (previous content in {result.backup})"
    if result.action in ("created", "added", "updated"):
        lines.append(
            f"Open a new shell, or run `source {shlex.quote(str(result.path))}`, to use it: "
            "`claude` then goes through the proxy while it runs."
        )
    elif result.changed:
        lines.append(
            f"Open a new shell, or run `{FORGET_FUNCTION[result.shell]}` in this one, to get the plain `claude` back."
        )
    return "\n".join(lines)
