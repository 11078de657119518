"""Commands that read the ledger: `usage`, `budget`, and the `--health` part of `status`."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..ledger.budgets import BudgetStatus, period_window
from ..ledger.chart import render_spend_chart
from ..ledger.clock import local_now
from ..ledger.health_state import RECENT_WINDOW_S
from ..ledger.queries import UsageRow
from ..ledger.store import Ledger
from ..proxy.budget_view import budget_statuses

__all__ = ["budget", "health_report", "usage"]

PERIODS = {"today": "day", "week": "week", "month": "month"}


def _since(period: str) -> float | None:
    if period == "all":
        return None
    return period_window(PERIODS[period], local_now()).start.timestamp()  # type: ignore[arg-type]


WINDOW_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def window_seconds(name: str) -> int | None:
    """The length of a subscription window from its name: "5h" -> 18000, "7d_sonnet" -> 604800."""
    match = re.match(r"^(\d+)([hdw])(?:_|$)", name)
    return int(match.group(1)) * WINDOW_UNITS[match.group(2)] if match else None


def _window_since(paths: ConfigPaths, name: str) -> float:
    """The start of the subscription window `name` now running: its reset as last reported, less its length.
    Raises ValueError with what to do when it is not known."""
    from ..proxy.subscription import latest_report

    length = window_seconds(name)
    if length is None:
        raise ValueError(f"--window {name}: not a window name (5h, 7d, 7d_sonnet...)")
    report = latest_report(paths.subscription_file) or {}
    window = (report.get("windows") or {}).get(name)
    resets_at = window.get("resets_at") if isinstance(window, dict) else None
    if not isinstance(resets_at, (int, float)):
        known = ", ".join(sorted(report.get("windows") or {})) or "none yet"
        raise ValueError(
            f"--window {name}: no reset time known for it (windows known: {known}). They come from Anthropic's "
            "answers to a Claude subscription's requests through the proxy."
        )
    return float(resets_at) - length


def _row(row: UsageRow, with_key: bool) -> dict[str, Any]:
    data = asdict(row)
    if not with_key:
        data.pop("key")
    data["cost_usd"] = round(data["cost_usd"], 6)
    return data


def usage(paths: ConfigPaths, args: argparse.Namespace) -> int:
    since = _since(args.period)
    if getattr(args, "window", None):
        try:
            since = _window_since(paths, args.window)
        except ValueError as exc:
            print(f"ccproxy: {exc}", file=sys.stderr)
            return 1
        args.period = f"window {args.window} since {time.strftime('%a %H:%M', time.localtime(since))}"
    with Ledger(paths.ledger_db) as ledger:
        report = ledger.usage(since, None, args.by)
        unknown = ledger.unknown_cost_models(since or 0.0)
        if args.chart:
            days = ledger.daily_spend_by_model(since or 0.0, local_now().tzinfo)  # type: ignore[arg-type]
            title = f"Spend per day by model ({args.period})"
            render_spend_chart(days, Path(args.chart), title=title)
    if args.json:
        out = {
            "period": args.period,
            "total": _row(report.total, False),
            "groups": [_row(g, True) for g in report.groups],
        }
        print(json.dumps(out, indent=2))
    else:
        _print_usage(args, report.total, report.groups)
    sys.stdout.flush()
    if unknown:
        print(
            f"warning: no price known for {', '.join(unknown)}: their cost is not included (+?); "
            "add them under `pricing:` in ccproxy.yaml",
            file=sys.stderr,
        )
    if args.chart:
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def _print_usage(args: argparse.Namespace, total: UsageRow, groups: list[UsageRow]) -> None:
    header = f"{'':28} {'requests':>9} {'input':>11} {'output':>10} {'cache read':>11} {'cache write':>11} {'cost':>11}"
    print(f"usage, {args.period}" + (f", by {args.by}" if args.by else ""))
    print(header)
    for row in [*groups, total]:
        name = "total" if row is total else (row.key or "(none)")
        cost = "$" + format(row.cost_usd, ",.4f") + ("+?" if row.unknown_cost_requests else "")
        print(
            f"{name[:28]:28} {row.requests:>9} {row.input_tokens:>11,} {row.output_tokens:>10,} "
            f"{row.cache_read_tokens:>11,} {row.cache_write_tokens:>11,} {cost:>11}"
        )


def _budget_line(status: BudgetStatus) -> str:
    line = f"{status.name}: ${status.spent_usd:,.2f} of ${status.limit_usd:,.2f} ({status.percent:.1f}%) this {status.period}"
    if status.alerts_sent:
        line += ", alerts sent at " + ", ".join(f"{f:.0%}" for f in status.alerts_sent)
    if status.blocking:
        line += ", blocking"
    if status.projected_usd is not None:
        line += f"; at this rate ${status.projected_usd:,.2f} by the period's end"
    if status.reach_limit_at is not None:
        line += f", limit reached at {status.reach_limit_at:%H:%M}"
        if status.reach_limit_at.date() != local_now().date():
            line += f" on {status.reach_limit_at:%a %d %b}"
    return line


def budget(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        settings = load_settings(paths)
    except ConfigInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    with Ledger(paths.ledger_db) as ledger:
        statuses = budget_statuses(settings, ledger, local_now)
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
        return 0
    if not statuses:
        print("no budgets configured (add a `budgets:` list under `ccproxy:` in ccproxy.yaml)")
    for status in statuses:
        print(_budget_line(status))
    return 0


def _saved(result: Any) -> None:
    sys.stdout.write(result.diff if result.diff.endswith("\n") or not result.diff else result.diff + "\n")
    where = f" (previous version: {result.backup})" if result.backup else ""
    print(f"saved {result.path}{where}; a running proxy reloads it" if result.changed else "no change")


def budget_set(paths: ConfigPaths, args: argparse.Namespace) -> int:
    """`ccproxy budget set NAME USD ...`: ccproxy.yaml edited in place (comments kept, validated, a .bak)."""
    from ..config.edit import ConfigEditError, edit_config, set_budget

    entry: dict[str, Any] = {"name": args.name, "limit_usd": args.limit_usd, "period": args.period}
    for key in ("model", "user", "project"):
        if getattr(args, key):
            entry[key] = getattr(args, key)
    if args.alert_at:
        try:
            entry["alert_at"] = [float(part) for part in args.alert_at.split(",") if part.strip()]
        except ValueError:
            print(f"ccproxy: --alert-at: not a list of numbers: {args.alert_at!r}", file=sys.stderr)
            return 2
    if args.block:
        entry["block"] = True
    try:
        _saved(edit_config(paths, "ccproxy.yaml", set_budget(entry)))
    except (ConfigEditError, ConfigInvalid) as exc:
        print(f"ccproxy: the budget was not saved:\n{exc}", file=sys.stderr)
        return 2
    return 0


def budget_remove(paths: ConfigPaths, args: argparse.Namespace) -> int:
    from ..config.edit import ConfigEditError, edit_config, remove_budget

    try:
        _saved(edit_config(paths, "ccproxy.yaml", remove_budget(args.name)))
    except (ConfigEditError, ConfigInvalid) as exc:
        print(f"ccproxy: the budget was not removed: {exc}", file=sys.stderr)
        return 1
    return 0


def health_report(paths: ConfigPaths, since: float | None) -> dict[str, Any]:
    """The `health` object of `status --json --health`."""
    now = local_now()
    with Ledger(paths.ledger_db) as ledger:
        snapshot = ledger.health(since)
        today = ledger.spend(period_window("day", now).start.timestamp())
        month = ledger.spend(period_window("month", now).start.timestamp())
        unknown = ledger.unknown_cost_models(since or 0.0)
        recent = ledger.provider_health()
        pending_error = ledger.last_error
    report: dict[str, Any] = {
        "state": recent.state,
        "state_reason": recent.reason,
        "recent": {
            "requests": recent.recent_requests,
            "provider_failures": recent.recent_failures,
            "window_seconds": RECENT_WINDOW_S,
        },
        "requests_total": snapshot.requests_total,
        "requests_succeeded": snapshot.requests_succeeded,
        "requests_failed": snapshot.requests_failed,
        "by_model": snapshot.by_model,
        "by_rule": snapshot.by_rule,
        "latency_ms": {"p50": snapshot.latency_p50_ms, "p95": snapshot.latency_p95_ms},
        "cost_usd": {"today": round(today, 6), "month": round(month, 6)},
        "cache": {
            "hits": snapshot.cache_hits,
            "hit_rate": round(snapshot.cache_hits / snapshot.requests_succeeded, 4)
            if snapshot.requests_succeeded
            else None,
        },
        "warnings": [
            f"no price known for {m}: its requests are recorded with unknown cost (add it under `pricing:`)"
            for m in unknown
        ],
    }
    if pending_error:
        report["warnings"].append(f"ledger: {pending_error}")
    return report
