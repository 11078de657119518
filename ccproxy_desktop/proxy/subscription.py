"""Claude subscription limits, read from the provider's responses (docs/research/subscription-limits.md).

Anthropic answers requests made with a Claude Pro/Max OAuth token with `anthropic-ratelimit-unified-*` headers:
per window (`5h`, `7d`, `7d_sonnet`...) the used fraction, the reset (unix seconds) and a status, plus an overall
status, reset and representative claim. `parse_unified_headers` turns them into a `SubscriptionWindows` (pure;
malformed values are ignored), and `SubscriptionState` keeps the latest per account and writes them to
`run/subscription.json` (0600, atomically, at most once a second, from its own thread) for `ccproxy status`.

The account key is the `account_uuid` of Claude Code's `metadata.user_id`, else "default": never the token.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.paths import create_private_file

__all__ = [
    "DEFAULT_ACCOUNT",
    "SubscriptionState",
    "SubscriptionWindows",
    "Window",
    "account_key",
    "describe_window",
    "latest_report",
    "parse_unified_headers",
    "read_subscription_file",
    "window_label",
]

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
PREFIX = b"anthropic-ratelimit-unified-"
WRITE_INTERVAL = 1.0

# `<window>-<field>`: a window name starts with its length (5h, 7d, 7d_sonnet, 7d_oi...).
_WINDOW_HEADER = re.compile(r"^(?P<window>\d+[a-z]+(?:_[a-z0-9]+)*)-(?P<field>utilization|reset|status)$")
_STATUS = re.compile(r"^[a-z][a-z_]{0,39}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LEGACY_USER_ID = re.compile(r"^user_[^_]*_account_(?P<account>[^_]*)_session_[\w-]+$")


@dataclass(frozen=True)
class Window:
    """One window: the used fraction (0..1, above 1 when over), its reset (unix seconds) and status."""

    used: float | None = None
    resets_at: int | None = None
    status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"used": self.used, "resets_at": self.resets_at, "status": self.status}


@dataclass(frozen=True)
class SubscriptionWindows:
    """Everything one response said about the subscription's limits."""

    windows: dict[str, Window] = field(default_factory=dict)
    status: str | None = None
    resets_at: int | None = None
    representative_claim: str | None = None
    overage_status: str | None = None
    overage_in_use: bool | None = None
    overage_resets_at: int | None = None

    @property
    def empty(self) -> bool:
        return not self.windows and self.status is None and self.resets_at is None

    def to_json(self, updated_at: float) -> dict[str, Any]:
        record: dict[str, Any] = {
            "updated_at": round(updated_at, 3),
            "windows": {name: window.to_json() for name, window in sorted(self.windows.items())},
        }
        for key, value in (
            ("status", self.status),
            ("resets_at", self.resets_at),
            ("representative_claim", self.representative_claim),
            ("overage_status", self.overage_status),
            ("overage_in_use", self.overage_in_use),
            ("overage_resets_at", self.overage_resets_at),
        ):
            if value is not None:
                record[key] = value
        return record


def _fraction(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _timestamp(raw: str) -> int | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and 0 < value < 1e11 else None


def _status(raw: str) -> str | None:
    value = raw.strip().lower()
    return value if _STATUS.match(value) else None


def _boolean(raw: str) -> bool | None:
    return {"true": True, "false": False}.get(raw.strip().lower())


def parse_unified_headers(headers: Iterable[tuple[bytes, bytes]]) -> SubscriptionWindows:
    """The `anthropic-ratelimit-unified-*` headers of a response (any case); values that don't parse are
    ignored, as are headers of other names. Empty (`.empty`) when the response carries none."""
    fields: dict[str, dict[str, Any]] = {}
    overall: dict[str, Any] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if not name.startswith(PREFIX):
            continue
        try:
            rest, value = name[len(PREFIX) :].decode("ascii"), raw_value.decode("ascii").strip()
        except UnicodeDecodeError:
            continue
        parser: Callable[[str], Any]
        match = _WINDOW_HEADER.match(rest)
        if match:
            kind = match.group("field")
            parser = {"utilization": _fraction, "reset": _timestamp, "status": _status}[kind]
            parsed = parser(value)
            if parsed is not None:
                key = {"utilization": "used", "reset": "resets_at", "status": "status"}[kind]
                fields.setdefault(match.group("window"), {})[key] = parsed
            continue
        parser = {
            "status": _status,
            "reset": _timestamp,
            "representative-claim": _status,
            "overage-status": _status,
            "overage-in-use": _boolean,
            "overage-reset": _timestamp,
        }.get(rest, lambda _: None)
        parsed = parser(value)
        if parsed is not None:
            overall[rest.replace("-", "_")] = parsed
    return SubscriptionWindows(
        windows={name: Window(**values) for name, values in fields.items()},
        status=overall.get("status"),
        resets_at=overall.get("reset"),
        representative_claim=overall.get("representative_claim"),
        overage_status=overall.get("overage_status"),
        overage_in_use=overall.get("overage_in_use"),
        overage_resets_at=overall.get("overage_reset"),
    )


def account_key(metadata: Mapping[str, Any] | None) -> str:
    """The account a request was made for: `account_uuid` of Claude Code's `metadata.user_id` (the JSON
    string, or the legacy `user_<hash>_account_<uuid>_session_<uuid>`), else "default"."""
    user_id = metadata.get("user_id") if metadata else None
    account: Any = None
    if isinstance(user_id, str) and user_id:
        match = _LEGACY_USER_ID.match(user_id)
        if match:
            account = match.group("account")
        elif user_id.startswith("{"):
            try:
                decoded = json.loads(user_id)
            except ValueError:
                decoded = None
            account = decoded.get("account_uuid") if isinstance(decoded, dict) else None
    return account if isinstance(account, str) and _ACCOUNT.match(account) else DEFAULT_ACCOUNT


def _has_unified(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name[: len(PREFIX)].lower() == PREFIX for name, _ in headers)


class SubscriptionState:
    """The latest limits per account, in memory and in `path`.

    `observe` runs on the event loop and only updates a dict; a daemon thread writes the file, at most once
    every `interval` seconds, the newest state always written in the end. Several proxy processes (workers)
    share the file: each write merges in the accounts another process wrote more recently.
    """

    def __init__(
        self, path: Path, interval: float = WRITE_INTERVAL, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self._accounts: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._dirty = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.writes = 0

    def observe(self, ctx: Any, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Note what a response's headers say about `ctx`'s account (nothing when they say nothing). Never
        raises: limits are a display, not a reason to fail a request."""
        try:
            headers = list(headers)
            if not _has_unified(headers):
                return
            windows = parse_unified_headers(headers)
            if not windows.empty:
                self.update(account_key(getattr(ctx, "metadata", None)), windows)
        except Exception:  # a display must never break the request
            log.exception("subscription limits: could not read the response headers")

    def update(self, account: str, windows: SubscriptionWindows) -> None:
        with self._wake:
            if self._closed:
                return
            self._accounts[account] = windows.to_json(self._clock())
            self._dirty = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="subscription-writer", daemon=True)
                self._thread.start()
            self._wake.notify()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._accounts)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is pending and stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        last = -math.inf
        while True:
            with self._wake:
                while not self._dirty and not self._closed:
                    self._wake.wait()
                if not self._dirty:
                    return
                pause = last + self.interval - time.monotonic()
                if pause > 0 and not self._closed:
                    self._wake.wait(pause)
                    continue
                accounts = dict(self._accounts)
                self._dirty = False
            last = time.monotonic()
            self._write(accounts)

    def _write(self, accounts: dict[str, dict[str, Any]]) -> None:
        merged = dict(read_subscription_file(self.path) or {})
        for key, record in accounts.items():
            theirs = merged.get(key)
            if not isinstance(theirs, dict) or _updated(theirs) <= _updated(record):
                merged[key] = record
        try:
            create_private_file(self.path, json.dumps({"accounts": merged}, indent=2, sort_keys=True) + "\n")
            self.writes += 1
        except OSError as exc:
            log.warning("subscription limits: cannot write %s: %s", self.path, exc)


def _updated(record: Mapping[str, Any]) -> float:
    value = record.get("updated_at")
    return float(value) if isinstance(value, (int, float)) else 0.0


def read_subscription_file(path: Path) -> dict[str, dict[str, Any]] | None:
    """The accounts of `path` (as `SubscriptionState` writes it); None when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    accounts = data.get("accounts") if isinstance(data, dict) else None
    if not isinstance(accounts, dict):
        return None
    return {key: value for key, value in accounts.items() if isinstance(key, str) and isinstance(value, dict)}


def latest_report(path: Path) -> dict[str, Any] | None:
    """What `ccproxy status --json` shows as `subscription`: the most recently updated account of `path`
    (`account`, `updated_at`, `windows` {name: {used, resets_at, status}} and the overall fields), with
    `accounts` naming every account known; None when nothing is known."""
    accounts = read_subscription_file(path)
    if not accounts:
        return None
    key = max(accounts, key=lambda name: _updated(accounts[name]))
    record = accounts[key]
    windows = record.get("windows")
    report: dict[str, Any] = {
        "account": key,
        "updated_at": record.get("updated_at"),
        "windows": {
            name: {field: window.get(field) for field in ("used", "resets_at", "status")}
            for name, window in (windows.items() if isinstance(windows, dict) else ())
            if isinstance(window, dict)
        },
    }
    for extra in (
        "status",
        "resets_at",
        "representative_claim",
        "overage_status",
        "overage_in_use",
        "overage_resets_at",
    ):
        if extra in record:
            report[extra] = record[extra]
    if len(accounts) > 1:
        report["accounts"] = sorted(accounts)
    return report


def window_label(name: str) -> str:
    """ "5h" -> "5-hour window", "7d" -> "7-day window", "7d_sonnet" -> "7-day window (sonnet)"."""
    match = re.match(r"^(\d+)([a-z]+)(?:_(.+))?$", name)
    if not match:
        return f"{name} window"
    units = {"h": "hour", "d": "day", "m": "minute", "w": "week"}
    unit = units.get(match.group(2), match.group(2))
    label = f"{match.group(1)}-{unit} window"
    return f"{label} ({match.group(3).replace('_', ' ')})" if match.group(3) else label


def describe_window(name: str, window: Mapping[str, Any], now: float | None = None) -> str:
    """One line of `ccproxy status`: "5-hour window: 62% used, resets 14:00 (allowed)"."""
    now = time.time() if now is None else now
    parts = []
    used, resets_at, status = window.get("used"), window.get("resets_at"), window.get("status")
    if isinstance(used, (int, float)):
        parts.append(f"{used:.0%} used")
    if isinstance(resets_at, (int, float)):
        if resets_at <= now:
            parts.append("reset since")
        else:
            local = time.localtime(resets_at)
            same_day = time.localtime(now)[:3] == local[:3]
            parts.append("resets " + time.strftime("%H:%M" if same_day else "%a %d %b %H:%M", local))
    text = f"{window_label(name)}: " + (", ".join(parts) if parts else "no figures")
    return text + (f" ({status})" if isinstance(status, str) and status != "allowed" else "")
