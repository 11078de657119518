"""`ccproxy model list | use NAME [--all] | auto`: the quick model switch (the tray's Model menu does the same)."""

from __future__ import annotations

import argparse
import sys

from ..config.loader import ConfigInvalid, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..pipeline.router import ModelChoice

__all__ = ["model"]


def switchable_models(paths: ConfigPaths) -> list[str]:
    """The model_names a user can switch to: config.yaml's, wildcard patterns left out."""
    settings = load_settings(paths)
    return [name for name in settings.litellm.model_names() if "*" not in name]


def model(paths: ConfigPaths, args: argparse.Namespace) -> int:
    override = OverrideFile(paths.model_override_file)
    try:
        models = switchable_models(paths)
    except ConfigInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    current = override.read()
    if args.action == "list":
        auto = "*" if current is None else " "
        print(f"{auto} auto (rules decide)")
        for name in models:
            mark = "*" if current is not None and current.model == name else " "
            scope = " (all requests)" if mark == "*" and current is not None and current.force_all else ""
            print(f"{mark} {name}{scope}")
        return 0
    if args.action == "auto":
        override.write(None)
        print("model: auto (rules decide)")
        return 0
    if not args.name:
        print("ccproxy: usage: ccproxy model use NAME [--all]", file=sys.stderr)
        return 2
    if args.name not in models:
        print(
            f"ccproxy: no model named {args.name!r} in config.yaml (models: {', '.join(models)})",
            file=sys.stderr,
        )
        return 1
    override.write(ModelChoice(args.name, force_all=args.all))
    scope = "every request" if args.all else "the main conversation (requests no rule matched)"
    print(f"model: {args.name} now serves {scope}, from the next request on")
    return 0
