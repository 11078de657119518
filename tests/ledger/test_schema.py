"""The ledger file: created private, in WAL mode, at the current schema version, migrated from older ones."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.schema import MIGRATIONS, SCHEMA_VERSION, SchemaVersionError, migrate
from ccproxy_desktop.ledger.store import Ledger

REQUEST_COLUMNS = {
    "id",
    "request_id",
    "ts",
    "label",
    "requested_model",
    "routed_model",
    "provider_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cost_usd",
    "latency_ms",
    "ttfb_ms",
    "outcome",
    "stream",
    "session_id",
    "user",
    "cached",
    "retried",
    "fallback",
    "variant",
    "project",
    "agent",
}


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, as another tool (or an older ccproxy-desktop) would open the file."""
    return sqlite3.connect(path, isolation_level=None)


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {name for (name,) in rows}


def test_new_file_is_private_wal_and_current(ledger: Ledger, ledger_path: Path) -> None:
    ledger.add_event("proxy_health", {})  # something in the WAL, so the -wal and -shm files exist
    for path in (ledger_path, ledger_path.with_name("ledger.db-wal"), ledger_path.with_name("ledger.db-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    conn = raw(ledger_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert tables(conn) == {"requests", "events", "budget_alerts", "admissions"}


def test_requests_columns_hold_every_record_field_and_no_text(ledger_path: Path) -> None:
    Ledger(ledger_path).close()
    columns = {row[1] for row in raw(ledger_path).execute("PRAGMA table_info(requests)")}
    assert columns == REQUEST_COLUMNS  # a new column is a schema change: add a migration, then update this


def test_every_field_round_trips(ledger: Ledger, ledger_path: Path) -> None:
    rec = RequestRecord(
        request_id="r-1",
        ts=1_700_000_123.25,
        label="think",
        requested_model="claude-opus-4",
        routed_model="opus",
        provider_model="anthropic/claude-opus-4-1",
        usage=TokenUsage(input=1, output=2, cache_read=3, cache_write_5m=4, cache_write_1h=5),
        cost_usd=1.5,
        latency_ms=250.5,
        ttfb_ms=80.25,
        outcome="error:RateLimitError",
        stream=True,
        session_id="s-1",
        user="alice",
        cached=True,
        retried=2,
        fallback=True,
        variant="B",
        project="webapp",
        agent="Explore",
    )
    ledger.record(rec)
    assert ledger.flush()
    conn = raw(ledger_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM requests").fetchone())
    expected = dataclasses.asdict(rec)
    usage = expected.pop("usage")
    for flag in ("stream", "cached", "fallback"):
        expected[flag] = int(expected[flag])
    expected |= {f"{name}_tokens": count for name, count in usage.items()}
    assert {k: row[k] for k in expected} == expected


def test_migrates_an_empty_version_0_file(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    conn.execute("PRAGMA user_version = 0")
    conn.execute("CREATE TABLE notes (text TEXT)")  # someone else's table is left alone
    conn.close()
    Ledger(ledger_path).close()
    conn = raw(ledger_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert tables(conn) == {"notes", "requests", "events", "budget_alerts", "admissions"}


def test_a_version_1_file_gains_the_admissions_table_and_keeps_its_rows(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO events (ts, kind, payload) VALUES (1, 'proxy_health', '{}')")
    conn.close()
    with Ledger(ledger_path) as ledger:
        assert ledger.admit("alice", 60, 1) is None
        assert len(ledger.events()) == 1
    assert raw(ledger_path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_2_file_gains_project_and_agent_and_keeps_its_rows(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    migrate(conn, MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO requests (request_id, ts, label, requested_model, routed_model, provider_model, "
        "input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "
        "cost_usd, latency_ms, outcome, stream, cached, retried, fallback) "
        "VALUES ('old', 1000, 'default', 'm', 'm', 'p', 1, 2, 0, 0, 0, 0.5, 10, 'ok', 0, 0, 0, 0)"
    )
    conn.close()
    with Ledger(ledger_path) as ledger:
        ledger.record(
            RequestRecord(
                request_id="new",
                ts=2000,
                label="default",
                requested_model="m",
                routed_model="m",
                provider_model="p",
                cost_usd=0.25,
                project="webapp",
                agent="main",
            )
        )
        assert ledger.flush()
        assert ledger.count() == 2
        by_project = {g.key: g.cost_usd for g in ledger.usage(None, group_by="project").groups}
    assert by_project == {"(none)": 0.5, "webapp": 0.25}
    conn = raw(ledger_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    rows = conn.execute("SELECT request_id, project, agent FROM requests ORDER BY ts").fetchall()
    assert rows == [("old", None, None), ("new", "webapp", "main")]


def test_migration_steps_run_in_order_and_keep_data(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    v1 = ("CREATE TABLE t (a INTEGER)", "INSERT INTO t VALUES (1)")
    assert migrate(conn, [v1]) == 1
    v2 = ("ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 7",)
    v3 = ("UPDATE t SET b = b * 2",)
    assert migrate(conn, [v1, v2, v3]) == 3
    assert conn.execute("SELECT a, b FROM t").fetchall() == [(1, 14)]
    assert migrate(conn, [v1, v2, v3]) == 3  # nothing to do: v3 does not run twice
    assert conn.execute("SELECT b FROM t").fetchone() == (14,)


def test_a_failing_step_leaves_the_file_as_it_was(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    good = ("CREATE TABLE t (a INTEGER)",)
    bad = ("INSERT INTO missing VALUES (1)",)
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
        migrate(conn, [good, bad])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert tables(conn) == set()


def test_a_newer_file_is_refused_with_a_clear_error(ledger_path: Path) -> None:
    conn = raw(ledger_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Ledger(ledger_path)


def test_an_existing_file_keeps_its_mode(ledger_path: Path) -> None:
    ledger_path.touch(mode=0o640)
    ledger_path.chmod(0o640)
    Ledger(ledger_path).close()
    assert stat.S_IMODE(ledger_path.stat().st_mode) == 0o640


def test_two_ledgers_on_one_file_see_each_others_rows(
    tmp_path: Path, make_record: Callable[..., RequestRecord]
) -> None:
    path = tmp_path / "shared.db"
    with Ledger(path) as first, Ledger(path) as second:
        first.record(make_record())
        second.record(make_record())
        assert first.flush() and second.flush()
        assert first.count() == second.count() == 2
