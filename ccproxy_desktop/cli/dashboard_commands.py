"""`ccproxy dashboard [--print-url]`: open the running proxy's dashboard in the default browser."""

from __future__ import annotations

import argparse
import sys
import webbrowser

from ..config.paths import ConfigPaths
from ..dashboard.client import DashboardUnavailable, dashboard_url

__all__ = ["add_parser", "dashboard"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dashboard", help="open the dashboard of the running proxy in the browser")
    p.add_argument(
        "--print-url",
        action="store_true",
        help="print a one-time URL (valid 2 minutes) instead of opening a browser",
    )
    p.set_defaults(func=dashboard)


def dashboard(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        url = dashboard_url(paths)
    except DashboardUnavailable as exc:
        print(f"ccproxy: {exc}", file=sys.stderr)
        return 1
    if args.print_url:
        print(url)
        return 0
    if not webbrowser.open(url):
        print("ccproxy: no browser could be opened; open this one-time URL yourself:", file=sys.stderr)
        print(url)
        return 0
    print("dashboard opened in the browser", file=sys.stderr)
    return 0
