"""`ccproxy` command line: argument parsing and dispatch. Each command lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..config.paths import CONFIG_DIR_ENV, ConfigPaths
from . import (
    ab_commands,
    auth_commands,
    cache_commands,
    dashboard_commands,
    demo,
    doctor,
    model_commands,
    provider_commands,
    proxy_commands,
    shell_commands,
    statusline_commands,
    tray_command,
    usage_commands,
    user_commands,
)

__all__ = ["build_parser", "main", "tray_main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccproxy", description="Local LLM proxy for Claude Code with rule-based routing."
    )
    parser.add_argument("--version", action="version", version=f"ccproxy-desktop {__version__}")
    parser.add_argument("--config-dir", help=f"config folder (default: ${CONFIG_DIR_ENV} or ~/.ccproxy)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("install", help="write default config files")
    p.add_argument("--force", action="store_true", help="overwrite existing files (keeping a .bak copy)")
    p.set_defaults(func=proxy_commands.install)

    p = sub.add_parser("start", help="run the proxy")
    p.add_argument(
        "--detach", "-d", action="store_true", help="run in the background; return once it answers"
    )
    p.set_defaults(func=proxy_commands.start)

    p = sub.add_parser("stop", help="stop the running proxy")
    p.set_defaults(func=proxy_commands.stop)

    p = sub.add_parser("restart", help="restart the proxy in the background")
    p.set_defaults(func=proxy_commands.restart)

    p = sub.add_parser("status", help="is the proxy running, where, since when")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--health", action="store_true", help="add request totals, latency and spend from the ledger"
    )
    p.set_defaults(func=proxy_commands.status)

    p = sub.add_parser("logs", help="show the proxy log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, default=100, help="how many lines from the end (default 100)")
    p.set_defaults(func=proxy_commands.logs)

    p = sub.add_parser("run", help="run a command with the proxy's URLs and key in its environment")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command and its arguments")
    p.set_defaults(func=proxy_commands.run)

    p = sub.add_parser("validate", help="check both config files")
    p.set_defaults(func=proxy_commands.validate)

    p = sub.add_parser(
        "shell-integration", help="print, install or remove the `claude` shell function that uses the proxy"
    )
    p.add_argument("--shell", choices=["bash", "zsh", "fish"], help="default: detected from $SHELL")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="add it to the shell's rc file")
    action.add_argument("--uninstall", action="store_true", help="remove it, restoring the rc file")
    p.set_defaults(func=shell_commands.shell_integration)

    p = sub.add_parser("model", help="quick model switch: list | use NAME [--all] | auto")
    p.add_argument("action", choices=["list", "use", "auto"])
    p.add_argument("name", nargs="?", help="a model_name of config.yaml (with `use`)")
    p.add_argument("--all", action="store_true", help="serve every request, not only those no rule matched")
    p.set_defaults(func=model_commands.model)

    auth_commands.add_parser(sub)
    cache_commands.add_parser(sub)

    p = sub.add_parser("usage", help="spend and tokens from the ledger")
    p.add_argument("--period", choices=["today", "week", "month", "all"], default="today")
    p.add_argument(
        "--window",
        metavar="NAME",
        help="instead of --period: the Claude subscription window now running (5h, 7d...), from its last reset",
    )
    p.add_argument(
        "--by", choices=["model", "rule", "user", "session", "project", "agent"], help="group the totals"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--chart", metavar="FILE.png", help="also draw spend per day, stacked by model")
    p.set_defaults(func=usage_commands.usage)

    p = sub.add_parser(
        "budget", help="each budget: spent, limit, alerts sent, burn rate (set NAME USD | remove NAME)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=usage_commands.budget)
    actions = p.add_subparsers(dest="budget_action", metavar="ACTION")
    q = actions.add_parser("set", help="add a budget to ccproxy.yaml, or change the one of that name")
    q.add_argument("name")
    q.add_argument("limit_usd", type=float, metavar="USD")
    q.add_argument("--period", choices=["day", "week", "month", "total"], default="day")
    q.add_argument("--model", help="count only this model_name's spend")
    q.add_argument("--user", help="count only this proxy user's spend")
    q.add_argument("--project", help="count only this project's spend")
    q.add_argument(
        "--alert-at", metavar="F,F...", help="fractions of the limit that notify (default 0.75,0.9,1.0)"
    )
    q.add_argument("--block", action="store_true", help="refuse requests once the limit is reached")
    q.set_defaults(func=usage_commands.budget_set)
    q = actions.add_parser("remove", help="remove the budget NAME from ccproxy.yaml")
    q.add_argument("name")
    q.set_defaults(func=usage_commands.budget_remove)

    ab_commands.add_parser(sub)
    dashboard_commands.add_parser(sub)
    user_commands.add_parser(sub)
    provider_commands.add_parser(sub)

    p = sub.add_parser(
        "statusline", help="Claude Code's status line: routed model, session cost, budget, 5h window"
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument("--install", action="store_true", help="set it in Claude Code's settings.json")
    action.add_argument("--uninstall", action="store_true", help="take it out, restoring settings.json")
    p.add_argument(
        "--wrap", action="store_true", help="with --install: keep your own statusLine, append ours"
    )
    p.add_argument("--wrap-command", help="run this status line command too and append ours to its output")
    p.set_defaults(func=statusline_commands.statusline)

    p = sub.add_parser("tray", help="the desktop tray app (no display: runs the proxy in the foreground)")
    p.set_defaults(func=tray_command.tray)

    p = sub.add_parser(
        "doctor", help="environment diagnostics: LiteLLM, config, port, keyring, notifications"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=doctor.doctor)

    p = sub.add_parser(
        "demo", help="the proxy plus a built-in fake provider on loopback: try routing offline"
    )
    p.add_argument("--port", type=int, default=4000, help="proxy port (default 4000)")
    p.add_argument(
        "--no-wait", action="store_true", help="send the sample requests, print the routes and exit"
    )
    p.set_defaults(func=demo.run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config_dir:
        os.environ[CONFIG_DIR_ENV] = os.path.abspath(os.path.expanduser(args.config_dir))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    paths = ConfigPaths.from_env()
    try:
        return int(args.func(paths, args) or 0)
    except KeyboardInterrupt:
        return 130


def tray_main() -> int:
    return main(["tray", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
