"""`ccproxy ab report [--json] [--test NAME]`: each A/B test's variants and whether one has won."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from contextlib import closing
from typing import Any

from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..ledger.ab_report import ABReport, VariantReport, ab_report
from ..ledger.schema import LedgerError, connect

__all__ = ["ab", "add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ab", help="A/B tests of models: report per variant and the winner, if any")
    ab_sub = p.add_subparsers(dest="ab_command", metavar="ACTION", required=True)
    q = ab_sub.add_parser(
        "report", help="per variant: requests, success rate, latency, cost; the winner, if any"
    )
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.add_argument("--test", metavar="NAME", help="only this test")
    p.set_defaults(func=ab)


class _CantReport(Exception):
    """What to print on stderr before exiting 1."""


def _reports(paths: ConfigPaths, name: str | None) -> list[ABReport]:
    try:
        tests = load_settings(paths).ccproxy.ab_tests
    except ConfigInvalid as exc:
        raise _CantReport(str(exc)) from exc
    chosen = [t for t in tests if name is None or t.name == name]
    if name is not None and not chosen:
        names = ", ".join(t.name for t in tests) or "none configured"
        raise _CantReport(f"ccproxy: no A/B test named {name!r} (tests: {names})")
    try:
        with closing(connect(paths.ledger_db, busy_timeout=5.0)) as conn:
            return [ab_report(conn, test) for test in chosen]
    except (LedgerError, sqlite3.Error, OSError) as exc:
        raise _CantReport(f"ccproxy: can't read the ledger {paths.ledger_db}: {exc}") from exc


def ab(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        reports = _reports(paths, args.test)
    except _CantReport as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
        return 0
    if not reports:
        print("no A/B tests configured (add an `ab_tests:` list under `ccproxy:` in ccproxy.yaml)")
    for report in reports:
        _print_report(report)
    return 0


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _variant_line(v: VariantReport) -> str:
    data = v.to_json()
    return (
        f"  {v.sample.model[:24]:24} {v.weight:>7g} {v.sample.requests:>9} "
        f"{_cell(v.sample.success_rate, '.1%'):>8} {_cell(data['latency_ms']['p50'], ',.0f'):>8} "
        f"{_cell(data['latency_ms']['p95'], ',.0f'):>8} {_cell(v.cost_per_request_usd, ',.6f'):>11}"
    )


def _print_report(report: ABReport) -> None:
    test = report.test
    state = "" if test.enabled else ", disabled"
    print(
        f"{test.name} (label {test.label}, significance {test.significance:g}, "
        f"at least {test.min_samples} requests per variant{state})"
    )
    print(
        f"  {'variant':24} {'weight':>7} {'requests':>9} {'success':>8} {'p50 ms':>8} {'p95 ms':>8} {'$/request':>11}"
    )
    for variant in report.variants:
        print(_variant_line(variant))
    verdict = report.verdict
    if verdict.winner is not None:
        print(f"  winner: {verdict.winner}: {verdict.reason}")
    else:
        print(f"  {verdict.reason}")
    print()
