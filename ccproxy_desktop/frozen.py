"""Running our own modules in a child process, from a venv install and from a frozen (PyInstaller) build.

A venv install runs `python -m MODULE`. A frozen build has no interpreter to pass `-m` to: its executables
(`ccproxy`, `ccproxy-desktop`) run themselves with `--ccproxy-run-module MODULE`, which their entry points
(installers/pyinstaller/) hand to `run_module_if_asked` before anything else.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

__all__ = ["RUN_MODULE_FLAG", "is_frozen", "module_command", "run_module_if_asked"]

RUN_MODULE_FLAG = "--ccproxy-run-module"
OUR_PACKAGE = "ccproxy_desktop"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def module_command(module: str, *, frozen: bool | None = None, executable: str | None = None) -> list[str]:
    """The command (argv) that runs `python -m module` here."""
    exe = executable or sys.executable
    if is_frozen() if frozen is None else frozen:
        return [exe, RUN_MODULE_FLAG, module]
    return [exe, "-m", module]


def run_module_if_asked(argv: Sequence[str] | None = None) -> None:
    """In a frozen executable's entry point: if started as `EXE --ccproxy-run-module MODULE ARGS...`, run MODULE
    as `__main__` with ARGS and exit; otherwise return at once."""
    args = list(sys.argv if argv is None else argv)
    if len(args) < 2 or args[1] != RUN_MODULE_FLAG:
        return
    if len(args) < 3 or not (args[2] == OUR_PACKAGE or args[2].startswith(OUR_PACKAGE + ".")):
        raise SystemExit(f"{RUN_MODULE_FLAG} needs a module of {OUR_PACKAGE}, not {args[2:3]}")
    sys.argv = [args[0], *args[3:]]
    runpy.run_module(args[2], run_name="__main__", alter_sys=True)
    raise SystemExit(0)
