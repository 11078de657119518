"""`ccproxy user add|list`: create a user key (printed once, stored nowhere but as a hash in ccproxy.yaml),
and each user's usage against their limits."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pydantic import ValidationError

from ..config.edit import ConfigEditError, add_user, edit_config, remove_user
from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..config.schema import CCProxySection, UserSpec
from ..ledger.budgets import period_window
from ..ledger.clock import local_now
from ..ledger.store import Ledger
from ..proxy.accounting import user_totals
from ..proxy.users import RATE_WINDOW_SECONDS
from ..users.keys import hash_key, new_user_key

__all__ = ["add_parser", "user_add", "user_list", "user_remove"]

_LIMIT_KEYS = (
    "requests_per_minute",
    "daily_token_limit",
    "monthly_token_limit",
    "daily_cost_limit_usd",
    "monthly_cost_limit_usd",
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("user", help="proxy users: add NAME | remove NAME | list")
    actions = p.add_subparsers(dest="user_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="make a key for a new user; prints it once with the yaml to paste")
    add.add_argument("name", help="letters, digits and . _ @ -")
    add.add_argument("--requests-per-minute", type=int, metavar="N")
    add.add_argument("--daily-token-limit", type=int, metavar="N")
    add.add_argument("--monthly-token-limit", type=int, metavar="N")
    add.add_argument("--daily-cost-limit-usd", type=float, metavar="USD")
    add.add_argument("--monthly-cost-limit-usd", type=float, metavar="USD")
    add.add_argument("--allow", action="append", default=[], metavar="PATTERN", help="allowed_models entry")
    add.add_argument("--block", action="append", default=[], metavar="PATTERN", help="blocked_models entry")
    add.set_defaults(func=user_add)
    remove = actions.add_parser("remove", help="remove a user from ccproxy.yaml: their key stops working")
    remove.add_argument("name")
    remove.set_defaults(func=user_remove)
    listing = actions.add_parser("list", help="each user's usage today and this month against their limits")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=user_list)


def user_add(paths: ConfigPaths, args: argparse.Namespace) -> int:
    key = new_user_key()
    entry: dict[str, Any] = {"key_hash": hash_key(key)}
    entry.update({k: getattr(args, k) for k in _LIMIT_KEYS if getattr(args, k) is not None})
    if args.allow:
        entry["allowed_models"] = list(args.allow)
    if args.block:
        entry["blocked_models"] = list(args.block)
    try:  # the same checks as loading ccproxy.yaml
        CCProxySection.model_validate({"users": {args.name: entry}})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = f"{error['loc'][-1]}: " if len(error["loc"]) > 2 else ""
            print(f"ccproxy: {where}{error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    try:
        existing = _configured_users(paths)
    except ValueError as exc:
        print(f"ccproxy: {exc}", file=sys.stderr)
        return 2
    if args.name in existing:
        print(f"ccproxy: user {args.name!r} already exists in {paths.ccproxy_yaml}", file=sys.stderr)
        return 1
    try:  # in place, comments kept, validated, with a .bak backup (config/edit.py)
        result = edit_config(paths, "ccproxy.yaml", add_user(args.name, entry))
    except (ConfigEditError, ConfigInvalid) as exc:
        print(f"ccproxy: the user was not added:\n{exc}", file=sys.stderr)
        return 2
    sys.stdout.write(result.diff)
    print(f"saved {result.path}" + (f" (previous version: {result.backup})" if result.backup else ""))
    print(f"\nKey for user {args.name!r} (shown only now: ccproxy.yaml keeps just its hash):\n\n  {key}\n")
    print("The running proxy picks the user up within a second. The user sets ANTHROPIC_API_KEY (or")
    print("ANTHROPIC_AUTH_TOKEN) to the key and ANTHROPIC_BASE_URL to the proxy's URL.")
    return 0


def user_remove(paths: ConfigPaths, args: argparse.Namespace) -> int:
    """The user's entry leaves ccproxy.yaml (in place, a .bak kept); the running proxy refuses their key from
    its reload on. Their ledger rows stay."""
    try:
        result = edit_config(paths, "ccproxy.yaml", remove_user(args.name))
    except (ConfigEditError, ConfigInvalid) as exc:
        print(f"ccproxy: the user was not removed: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(result.diff)
    print(f"saved {result.path}" + (f" (previous version: {result.backup})" if result.backup else ""))
    return 0


def _configured_users(paths: ConfigPaths) -> dict[str, UserSpec]:
    """The users of ccproxy.yaml; {} if it doesn't exist yet. Raises ValueError if it is invalid."""
    if not paths.ccproxy_yaml.exists():
        return {}
    try:
        return load_settings(paths).ccproxy.users
    except ConfigInvalid as exc:
        raise ValueError(f"the configuration is invalid (run `ccproxy validate`):\n{exc}") from exc


def user_list(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        users = _configured_users(paths)
    except ValueError as exc:
        print(f"ccproxy: {exc}", file=sys.stderr)
        return 2
    now = local_now()
    rows: list[dict[str, Any]] = []
    with Ledger(paths.ledger_db) as ledger:
        periods = {}
        for label, period in (("today", "day"), ("month", "month")):
            window = period_window(period, now)  # type: ignore[arg-type]
            until = window.end.timestamp() if window.end else None
            periods[label] = ledger.usage(window.start.timestamp(), until, group_by="user").groups
        last_minute = ledger.admissions(time.time() - RATE_WINDOW_SECONDS)
    for name, spec in users.items():
        row: dict[str, Any] = {"name": name}
        for label, groups in periods.items():
            tokens, usd = user_totals(groups).get(name, (0, 0.0))
            requests = next((g.requests for g in groups if g.key == name), 0)
            row[label] = {"requests": requests, "tokens": tokens, "cost_usd": round(usd, 6)}
        row["last_minute_requests"] = last_minute.get(name, 0)
        row["limits"] = spec.model_dump(exclude={"key_hash"}, mode="json")
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no users in {paths.ccproxy_yaml} (add one with `ccproxy user add NAME`)")
    else:
        _print_rows(rows)
    return 0


def _of(used: float, limit: float | None, money: bool = False) -> str:
    text = f"${used:,.2f}" if money else f"{int(used):,}"
    if limit is None:
        return text
    return f"{text}/{f'${limit:,.2f}' if money else f'{int(limit):,}'}"


def _print_rows(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'user':20} {'req/min':>9} {'tokens today':>22} {'cost today':>18} "
        f"{'tokens this month':>24} {'cost this month':>20}  models"
    )
    for row in rows:
        limits, today, month = row["limits"], row["today"], row["month"]
        rpm = _of(row["last_minute_requests"], limits["requests_per_minute"])
        models = ", ".join(
            [f"only {' '.join(limits['allowed_models'])}"] * bool(limits["allowed_models"])
            + [f"not {' '.join(limits['blocked_models'])}"] * bool(limits["blocked_models"])
        )
        print(
            f"{row['name'][:20]:20} {rpm:>9} {_of(today['tokens'], limits['daily_token_limit']):>22} "
            f"{_of(today['cost_usd'], limits['daily_cost_limit_usd'], True):>18} "
            f"{_of(month['tokens'], limits['monthly_token_limit']):>24} "
            f"{_of(month['cost_usd'], limits['monthly_cost_limit_usd'], True):>20}  {models or 'any'}"
        )
    print("tokens: input + cache writes + output (cache reads are not counted); used/limit where limited")
