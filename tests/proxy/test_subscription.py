"""Claude subscription limits: the `anthropic-ratelimit-unified-*` parser, the account key, the state file."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.proxy.subscription import (
    DEFAULT_ACCOUNT,
    SubscriptionState,
    SubscriptionWindows,
    Window,
    account_key,
    describe_window,
    latest_report,
    parse_unified_headers,
    read_subscription_file,
    window_label,
)
from ccproxy_desktop.testing.fake_provider import unified_ratelimit_headers

P = "anthropic-ratelimit-unified-"


def _headers(items: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in items.items()]


# A response of a Max account as community proxies logged it (docs/research/subscription-limits.md).
REAL = {
    "content-type": "application/json",
    f"{P}status": "allowed",
    f"{P}5h-status": "allowed",
    f"{P}5h-reset": "1764601200",
    f"{P}5h-utilization": "0.62",
    f"{P}7d-status": "allowed_warning",
    f"{P}7d-reset": "1765036800",
    f"{P}7d-utilization": "0.8",
    f"{P}7d-surpassed-threshold": "0.75",
    f"{P}representative-claim": "five_hour",
    f"{P}fallback-percentage": "0.5",
    f"{P}reset": "1764601200",
    f"{P}overage-status": "rejected",
    f"{P}overage-disabled-reason": "org_level_disabled",
    "anthropic-ratelimit-requests-limit": "4000",
}


def test_parse_a_real_response() -> None:
    parsed = parse_unified_headers(_headers(REAL))
    assert parsed == SubscriptionWindows(
        windows={
            "5h": Window(used=0.62, resets_at=1764601200, status="allowed"),
            "7d": Window(used=0.8, resets_at=1765036800, status="allowed_warning"),
        },
        status="allowed",
        resets_at=1764601200,
        representative_claim="five_hour",
        overage_status="rejected",
    )


@pytest.mark.parametrize(
    ("headers", "windows", "overall"),
    [
        ({}, {}, {}),
        ({"content-type": "application/json"}, {}, {}),
        # names in any case, values with blanks around them
        ({"Anthropic-Ratelimit-Unified-5h-Utilization": " 0.25 "}, {"5h": Window(used=0.25)}, {}),
        ({f"{P}5h-utilization": "0"}, {"5h": Window(used=0.0)}, {}),
        ({f"{P}5h-utilization": "1.04"}, {"5h": Window(used=1.04)}, {}),  # over the limit: kept
        # other windows: model-scoped weekly ones
        (
            {f"{P}7d_sonnet-utilization": "0.06", f"{P}7d_oi-status": "rejected"},
            {"7d_sonnet": Window(used=0.06), "7d_oi": Window(status="rejected")},
            {},
        ),
        ({f"{P}5h-reset": "1764601200.0"}, {"5h": Window(resets_at=1764601200)}, {}),
        ({f"{P}5h-status": "ALLOWED"}, {"5h": Window(status="allowed")}, {}),
        # malformed values are ignored, the rest of the window kept
        ({f"{P}5h-utilization": "62%", f"{P}5h-status": "allowed"}, {"5h": Window(status="allowed")}, {}),
        ({f"{P}5h-utilization": "nan"}, {}, {}),
        ({f"{P}5h-utilization": "inf"}, {}, {}),
        ({f"{P}5h-utilization": "-0.1"}, {}, {}),
        ({f"{P}5h-utilization": ""}, {}, {}),
        ({f"{P}5h-reset": "2026-12-01T14:00:00Z"}, {}, {}),  # RFC 3339 is the requests-* style, not this
        ({f"{P}5h-reset": "0"}, {}, {}),
        ({f"{P}5h-reset": "-5"}, {}, {}),
        ({f"{P}5h-reset": "1764601200000000"}, {}, {}),
        ({f"{P}5h-status": "allowed; drop table"}, {}, {}),
        ({f"{P}5h-status": ""}, {}, {}),
        # unknown fields and names that are not windows
        ({f"{P}5h-surpassed-threshold": "0.75", f"{P}fallback-percentage": "0.5"}, {}, {}),
        ({f"{P}five_hour-utilization": "0.5", f"{P}-utilization": "0.5"}, {}, {}),
        # overall fields
        (
            {f"{P}status": "rejected", f"{P}reset": "1764601200"},
            {},
            {"status": "rejected", "resets_at": 1764601200},
        ),
        (
            {f"{P}representative-claim": "seven_day", f"{P}overage-status": "allowed"},
            {},
            {"representative_claim": "seven_day", "overage_status": "allowed"},
        ),
        (
            {
                f"{P}overage-in-use": "true",
                f"{P}overage-reset": "1782864000",
                f"{P}overage-utilization": "0.0",
            },
            {},
            {"overage_in_use": True, "overage_resets_at": 1782864000},
        ),
        ({f"{P}overage-in-use": "maybe", f"{P}status": "?"}, {}, {}),
    ],
)
def test_parse(headers: dict[str, str], windows: dict[str, Window], overall: dict[str, Any]) -> None:
    assert parse_unified_headers(_headers(headers)) == SubscriptionWindows(windows=windows, **overall)


def test_parse_ignores_undecodable_bytes() -> None:
    parsed = parse_unified_headers(
        [(f"{P}5h-utilization".encode(), b"\xff0.5"), (b"\xff" + P.encode(), b"1")]
    )
    assert parsed.empty


def test_the_fake_providers_headers_round_trip() -> None:
    now = 1764590000.0
    parsed = parse_unified_headers(_headers(unified_ratelimit_headers({"5h": 0.62, "7d": 0.8}, now=now)))
    assert parsed.windows["5h"].used == 0.62
    assert parsed.windows["5h"].status == "allowed"
    assert parsed.windows["7d"].status == "allowed_warning"
    resets_at = parsed.windows["5h"].resets_at
    assert resets_at is not None and resets_at % 3600 == 0  # a window opened at the start of this hour
    assert now + 4 * 3600 < resets_at <= now + 5 * 3600
    assert parsed.status == "allowed_warning"
    assert parsed.representative_claim == "seven_day"
    over = parse_unified_headers(_headers(unified_ratelimit_headers({"5h": 1.0}, now=now)))
    assert over.status == over.windows["5h"].status == "rejected"
    assert unified_ratelimit_headers({}) == {}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, DEFAULT_ACCOUNT),
        ({}, DEFAULT_ACCOUNT),
        ({"user_id": 42}, DEFAULT_ACCOUNT),
        ({"user_id": ""}, DEFAULT_ACCOUNT),
        (
            {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "0f8e-aa", "session_id": "s-1"})},
            "0f8e-aa",
        ),
        ({"user_id": json.dumps({"device_id": "d", "account_uuid": "", "session_id": "s"})}, DEFAULT_ACCOUNT),
        ({"user_id": json.dumps({"account_uuid": "../../etc"})}, DEFAULT_ACCOUNT),
        ({"user_id": json.dumps({"account_uuid": 7})}, DEFAULT_ACCOUNT),
        ({"user_id": json.dumps(["account_uuid"])}, DEFAULT_ACCOUNT),
        ({"user_id": "{not json"}, DEFAULT_ACCOUNT),
        ({"user_id": "user_abc123_account_7a1b-22_session_0b9c-11"}, "7a1b-22"),
        ({"user_id": "user_abc123_account__session_0b9c-11"}, DEFAULT_ACCOUNT),
        ({"user_id": "someone@example.com"}, DEFAULT_ACCOUNT),
    ],
)
def test_account_key(metadata: dict[str, Any] | None, expected: str) -> None:
    assert account_key(metadata) == expected


def test_the_file_lives_in_run() -> None:
    assert ConfigPaths(Path("/x")).subscription_file == Path("/x/run/subscription.json")


def _ctx(account: str = "") -> SimpleNamespace:
    return SimpleNamespace(metadata={"user_id": json.dumps({"account_uuid": account, "session_id": "s"})})


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_state_writes_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "subscription.json"
    state = SubscriptionState(path, clock=lambda: 1764590000.0)
    state.observe(_ctx("acct-1"), _headers(REAL))
    state.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "accounts": {
            "acct-1": {
                "updated_at": 1764590000.0,
                "windows": {
                    "5h": {"used": 0.62, "resets_at": 1764601200, "status": "allowed"},
                    "7d": {"used": 0.8, "resets_at": 1765036800, "status": "allowed_warning"},
                },
                "status": "allowed",
                "resets_at": 1764601200,
                "representative_claim": "five_hour",
                "overage_status": "rejected",
            }
        }
    }
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary file left


def test_state_ignores_responses_without_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "subscription.json"
    state = SubscriptionState(path)
    state.observe(_ctx(), [(b"content-type", b"application/json")])
    state.observe(_ctx(), [(f"{P}5h-utilization".encode(), b"lots")])
    state.close()
    assert not path.exists()
    assert state.writes == 0


def test_state_never_raises(tmp_path: Path) -> None:
    state = SubscriptionState(tmp_path / "s.json")
    state.observe(object(), _headers(REAL))  # no metadata: the default account
    state.observe(_ctx(), None)  # type: ignore[arg-type]
    state.close()
    assert set(read_subscription_file(tmp_path / "s.json") or {}) == {DEFAULT_ACCOUNT}


def test_state_writes_at_most_once_per_interval_and_the_latest_last(tmp_path: Path) -> None:
    path = tmp_path / "subscription.json"
    state = SubscriptionState(path, interval=1.0)
    state.observe(_ctx(), _headers({f"{P}5h-utilization": "0.1"}))
    _wait_for(lambda: state.writes == 1)
    started = time.monotonic()
    for step in range(2, 30):
        state.observe(_ctx(), _headers({f"{P}5h-utilization": f"0.{step:02d}"}))
    assert state.writes == 1  # the burst waits for the interval
    _wait_for(lambda: state.writes == 2)
    assert time.monotonic() - started >= 0.5
    time.sleep(1.2)
    assert state.writes == 2  # one write for the whole burst
    windows = (read_subscription_file(path) or {})[DEFAULT_ACCOUNT]["windows"]
    assert windows["5h"]["used"] == 0.29
    state.close()


def test_observe_does_not_write_on_the_callers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[str] = []
    state = SubscriptionState(tmp_path / "s.json")
    original = state._write
    monkeypatch.setattr(
        state,
        "_write",
        lambda accounts: (writers.append(threading.current_thread().name), original(accounts)),
    )
    state.observe(_ctx(), _headers(REAL))
    state.close()
    assert writers == ["subscription-writer"]


def test_state_keeps_accounts_apart_and_merges_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "subscription.json"
    other = {"updated_at": 9e9, "windows": {"5h": {"used": 0.9, "resets_at": 1, "status": "allowed"}}}
    stale = {"updated_at": 1.0, "windows": {}}
    path.write_text(json.dumps({"accounts": {"worker-b": other, "a": stale}}))
    state = SubscriptionState(path, clock=lambda: 1764590000.0)
    state.observe(_ctx("a"), _headers(REAL))
    state.observe(_ctx(""), _headers({f"{P}7d-utilization": "0.3"}))
    state.close()
    accounts = read_subscription_file(path) or {}
    assert set(accounts) == {"a", "worker-b", DEFAULT_ACCOUNT}
    assert accounts["worker-b"] == other  # another process's account, kept
    assert accounts["a"]["windows"]["5h"]["used"] == 0.62  # ours is newer than the file's
    assert accounts[DEFAULT_ACCOUNT]["windows"] == {"7d": {"used": 0.3, "resets_at": None, "status": None}}


@pytest.mark.parametrize("content", ["", "{", "[]", '{"accounts": 3}', '{"accounts": {"a": 1}}'])
def test_unreadable_files_read_as_nothing(tmp_path: Path, content: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    assert not read_subscription_file(path)
    assert latest_report(path) is None
    assert latest_report(tmp_path / "missing.json") is None


def test_latest_report_is_the_most_recent_account(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    window = {"used": 0.62, "resets_at": 1764601200, "status": "allowed", "extra": 1}
    accounts = {
        "old": {"updated_at": 1.0, "windows": {}},
        "new": {"updated_at": 2.0, "windows": {"5h": window}, "status": "allowed"},
    }
    path.write_text(json.dumps({"accounts": accounts}))
    assert latest_report(path) == {
        "account": "new",
        "updated_at": 2.0,
        "windows": {"5h": {"used": 0.62, "resets_at": 1764601200, "status": "allowed"}},
        "status": "allowed",
        "accounts": ["new", "old"],
    }


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("5h", "5-hour window"),
        ("7d", "7-day window"),
        ("7d_sonnet", "7-day window (sonnet)"),
        ("x", "x window"),
    ],
)
def test_window_label(name: str, label: str) -> None:
    assert window_label(name) == label


def test_describe_window() -> None:
    now = time.mktime((2026, 12, 2, 10, 0, 0, 0, 0, -1))
    at_two = time.mktime((2026, 12, 2, 14, 0, 0, 0, 0, -1))
    next_week = time.mktime((2026, 12, 8, 9, 30, 0, 0, 0, -1))
    assert describe_window("5h", {"used": 0.62, "resets_at": at_two, "status": "allowed"}, now) == (
        "5-hour window: 62% used, resets 14:00"
    )
    assert describe_window("7d", {"used": 0.8, "resets_at": next_week, "status": "allowed_warning"}, now) == (
        "7-day window: 80% used, resets Tue 08 Dec 09:30 (allowed_warning)"
    )
    assert describe_window("5h", {"used": 1.0, "resets_at": now - 60, "status": "rejected"}, now) == (
        "5-hour window: 100% used, reset since (rejected)"
    )
    assert describe_window("5h", {}, now) == "5-hour window: no figures"
