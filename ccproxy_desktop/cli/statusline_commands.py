"""`ccproxy statusline`: Claude Code's status line command, with what only the proxy knows.

Claude Code runs its `statusLine` command after each message with the session's JSON on stdin (`session_id`,
`model`, `workspace`, `cost`...) and shows the first line it prints. This prints one short line: the model the
session's latest request was routed to and the rule that chose it, the session's cost from the ledger, today's
spend against the first `period: day` budget of ccproxy.yaml, and the subscription's 5-hour window (from
`run/subscription.json`, written by the proxy). Example::

    ccproxy → sonnet (think) · session $0.42 · today $3.10/$10.00 (31%) · 5h 62% ↻17:40

It must answer in a few tens of milliseconds, so it imports nothing heavy: no LiteLLM, no pydantic config
loader (ccproxy.yaml is read with PyYAML only when it has a `budgets:` key), and the ledger is opened
read-only with SQLite directly. `python -m ccproxy_desktop.cli.statusline_commands` is the fast entry point
the installed setting runs (the `ccproxy` console script imports every command first); both read the same
arguments.

`--install` / `--uninstall` patch Claude Code's settings.json (see desktop/claude_settings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from datetime import time as day_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.paths import ConfigPaths

__all__ = ["compose", "main", "statusline"]

MODULE = "ccproxy_desktop.cli.statusline_commands"
# as proxy/control.py: a pid reused by another process is no proxy
SERVER_MODULE = "ccproxy_desktop.proxy.server"
SEPARATOR = " · "
WRAPPED_TIMEOUT_S = 5.0


def _config_dir(given: str | None) -> Path:
    raw = given or os.environ.get("CCPROXY_CONFIG_DIR")
    return (Path(raw).expanduser() if raw else Path.home() / ".ccproxy").absolute()


# --- what the proxy knows ---------------------------------------------------------------------------------


def proxy_running(config_dir: Path) -> bool:
    """Whether the proxy of `config_dir` runs: its state file names a live pid (like `ccproxy status`)."""
    try:
        pid = int(json.loads((config_dir / "run" / "proxy.json").read_text())["pid"])
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return SERVER_MODULE.encode() in cmdline or b"uvicorn" in cmdline


def day_budget(config_dir: Path) -> dict[str, Any] | None:
    """The first budget with `period: day` in ccproxy.yaml (name, limit_usd, model, user), or None."""
    try:
        text = (config_dir / "ccproxy.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "budgets" not in text:
        return None  # the common case: no budgets, no YAML parser to import
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        budgets = data["ccproxy"]["budgets"]
    except (yaml.YAMLError, KeyError, TypeError):
        return None
    for budget in budgets if isinstance(budgets, list) else []:
        if isinstance(budget, dict) and budget.get("period", "day") == "day":
            try:
                limit = float(budget["limit_usd"])
            except (KeyError, TypeError, ValueError):
                continue
            return {
                "name": budget.get("name"),
                "limit_usd": limit,
                "model": budget.get("model"),
                "user": budget.get("user"),
            }
    return None


def _local_midnight(now: float) -> float:
    today = datetime.fromtimestamp(now).date()
    return datetime.combine(today, day_time(0)).astimezone().timestamp()


def ledger_facts(
    ledger_db: Path, session_id: str | None, budget: dict[str, Any] | None, now: float
) -> dict[str, Any] | None:
    """From the ledger, read-only: the session's latest route and rule, its cost and request count, and
    today's spend in the budget's scope. None when there is no ledger file or it can't be read right now."""
    if not ledger_db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{ledger_db}?mode=ro", uri=True, timeout=0.05)
    except sqlite3.Error:
        return None
    try:
        facts: dict[str, Any] = {
            "routed_model": None,
            "label": None,
            "session_cost": 0.0,
            "session_requests": 0,
        }
        if session_id:
            # one scan: SQLite takes the bare columns of an aggregate query with max() from the max row
            row = conn.execute(
                "SELECT routed_model, label, max(ts), total(cost_usd), count(*), count(*) - count(cost_usd) "
                "FROM requests WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row[4]:
                facts.update(
                    routed_model=row[0],
                    label=row[1],
                    session_cost=float(row[3]),
                    session_requests=int(row[4]),
                    session_unknown=int(row[5]),
                )
        if budget is not None:
            sql = "SELECT total(cost_usd) FROM requests WHERE ts >= ?"
            params: list[object] = [_local_midnight(now)]
            if budget.get("model"):
                sql += " AND (routed_model = ? OR requested_model = ?)"
                params += [budget["model"], budget["model"]]
            if budget.get("user"):
                sql += " AND user = ?"
                params.append(budget["user"])
            facts["today"] = float(conn.execute(sql, params).fetchone()[0])
        return facts
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def five_hour_window(config_dir: Path, now: float) -> dict[str, Any] | None:
    """The 5-hour window of the most recently updated account in `run/subscription.json`: `used` (a
    fraction), `resets_at`, `status`. None when the file is absent, unreadable, or the window has reset."""
    try:
        accounts = json.loads((config_dir / "run" / "subscription.json").read_text())["accounts"]
        latest = max(
            (a for a in accounts.values() if isinstance(a, dict)),
            key=lambda a: float(a.get("updated_at") or 0),
        )
        window = latest["windows"]["5h"]
        used = float(window["used"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    resets_at = window.get("resets_at")
    if isinstance(resets_at, int | float) and resets_at <= now:
        return None  # it has reset since: how much of the new one is used is unknown
    return {"used": used, "resets_at": resets_at, "status": window.get("status")}


# --- the line ---------------------------------------------------------------------------------------------


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def compose(
    running: bool,
    facts: dict[str, Any] | None,
    budget: dict[str, Any] | None,
    window: dict[str, Any] | None,
) -> str:
    """The status line from what was read. Pure."""
    parts: list[str] = []
    if not running:
        parts.append("ccproxy: proxy not running")
    if facts is None:
        if running:
            parts.append("ccproxy: no ledger yet")
    else:
        if facts["routed_model"]:
            route = f"{facts['routed_model']} ({facts['label']})"
            parts.append(f"ccproxy → {route}" if running else f"last {route}")
        elif running:
            parts.append("ccproxy: no request of this session yet")
        if facts["session_requests"]:
            unknown = "+?" if facts.get("session_unknown") else ""
            parts.append(f"session {_usd(facts['session_cost'])}{unknown}")
        if budget is not None and "today" in facts:
            percent = facts["today"] / budget["limit_usd"] * 100
            parts.append(f"today {_usd(facts['today'])}/{_usd(budget['limit_usd'])} ({percent:.0f}%)")
    if window is not None:
        text = f"5h {window['used'] * 100:.0f}%"
        if isinstance(window.get("resets_at"), int | float):
            text += " ↻" + datetime.fromtimestamp(window["resets_at"]).strftime("%H:%M")
        if window.get("status") not in (None, "allowed"):
            text += f" ({window['status']})"
        parts.append(text)
    return SEPARATOR.join(parts)


def _session_id(raw: bytes) -> str | None:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return None
    value = data.get("session_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def render(config_dir: Path, stdin: bytes, now: float | None = None) -> str:
    """The line for Claude Code's JSON `stdin`, from the files of `config_dir`."""
    moment = time.time() if now is None else now
    budget = day_budget(config_dir)
    facts = ledger_facts(config_dir / "ledger.db", _session_id(stdin), budget, moment)
    return compose(proxy_running(config_dir), facts, budget, five_hour_window(config_dir, moment))


def _run(config_dir: Path, wrap_command: str | None) -> int:
    stdin = sys.stdin.buffer.read()
    wrapped = None
    if wrap_command:  # theirs runs while ours reads the ledger
        wrapped = subprocess.Popen(
            wrap_command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    ours = render(config_dir, stdin)
    out = ""
    if wrapped is not None:
        try:
            out = (
                wrapped.communicate(stdin, timeout=WRAPPED_TIMEOUT_S)[0]
                .decode("utf-8", "replace")
                .rstrip("\n")
            )
        except subprocess.TimeoutExpired:
            wrapped.kill()
            wrapped.communicate()
    sys.stdout.write((out + SEPARATOR + ours if out else ours) + "\n")
    sys.stdout.flush()
    return 0


# --- commands ---------------------------------------------------------------------------------------------


def installed_command(config_dir: Path | None, wrapped: str | None) -> str:
    """The `command` of the statusLine setting: this module under this Python (the fast entry point); in a
    frozen build, the executable running itself with the module (frozen.py)."""
    from ..frozen import module_command

    words = module_command(MODULE, executable=sys.executable or "python3")
    if config_dir is not None:
        words += ["--config-dir", str(config_dir)]
    if wrapped:
        words += ["--wrap-command", wrapped]
    return shlex.join(words)


def statusline(paths: ConfigPaths, args: argparse.Namespace) -> int:
    """`ccproxy statusline [--install [--wrap] | --uninstall]`."""
    if not (args.install or args.uninstall):
        return _run(paths.config_dir, args.wrap_command)
    from ..desktop.claude_settings import ClaudeSettingsError, install, settings_file, uninstall

    path = settings_file(Path.home(), os.environ)
    config_dir = paths.config_dir if getattr(args, "config_dir", None) else None
    try:
        if args.install:
            result = install(path, lambda wrapped: installed_command(config_dir, wrapped), wrap=args.wrap)
        else:
            result = uninstall(path)
    except (ClaudeSettingsError, OSError) as exc:
        print(f"ccproxy: {exc}", file=sys.stderr)
        return 1
    print(_report(result.action, result.path, result.backup, result.wrapped))
    return 0


def _report(action: str, path: Path, backup: Path | None, wrapped: str | None) -> str:
    headline = {
        "created": f"created {path} with ccproxy's status line",
        "added": f"added ccproxy's status line to {path}",
        "wrapped": f"ccproxy's status line now wraps yours in {path}",
        "updated": f"updated ccproxy's status line in {path}",
        "unchanged": f"ccproxy's status line is already in {path}; nothing changed",
        "restored": f"removed ccproxy's status line from {path}; it is as it was before the install",
        "reverted": f"removed ccproxy's status line from {path}; your other edits since the install are kept",
        "deleted": f"deleted {path}: the install had created it",
        "not-installed": f"ccproxy's status line is not in {path}; nothing changed",
    }[action]
    lines = [headline + (f" (previous content in {backup})" if backup else "")]
    if wrapped and action in ("wrapped", "updated", "unchanged"):
        lines.append(
            f"Your command ({wrapped}) still runs: it gets the same input, and ccproxy's part is appended "
            f"to what it prints, after '{SEPARATOR.strip()}'. `ccproxy statusline --uninstall` puts yours back."
        )
    if action in ("created", "added", "wrapped", "updated"):
        lines.append("Claude Code shows it from its next message on.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The fast entry point: `python -m ccproxy_desktop.cli.statusline_commands [--config-dir D]
    [--wrap-command CMD]` < Claude Code's JSON."""
    parser = argparse.ArgumentParser(prog="ccproxy statusline")
    parser.add_argument("--config-dir")
    parser.add_argument("--wrap-command")
    args = parser.parse_args(argv)
    return _run(_config_dir(args.config_dir), args.wrap_command)


if __name__ == "__main__":
    sys.exit(main())
