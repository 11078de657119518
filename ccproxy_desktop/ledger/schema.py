"""The ledger's SQLite file: how it is created, opened and migrated, and how a `RequestRecord` becomes a row.

Every connection of every process goes through `connect`, so each one sees the same settings (WAL, a busy
timeout) and the schema at `SCHEMA_VERSION`. The file is created 0600 before SQLite touches it; SQLite gives the
`-wal` and `-shm` files it creates beside it the same mode.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ccproxy_desktop.ledger.records import RequestRecord

__all__ = [
    "INSERT_REQUEST",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "LedgerClosedError",
    "LedgerError",
    "LedgerUnavailableError",
    "Migration",
    "SchemaVersionError",
    "connect",
    "migrate",
    "request_row",
    "transaction",
]

Migration = tuple[str, ...]
"""One schema step: SQL statements run in order, in the same transaction as the steps before and after it."""

_V1: Migration = (
    """CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        ts REAL NOT NULL,
        label TEXT NOT NULL,
        requested_model TEXT NOT NULL,
        routed_model TEXT NOT NULL,
        provider_model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        cost_usd REAL,
        latency_ms REAL NOT NULL,
        ttfb_ms REAL,
        outcome TEXT NOT NULL,
        stream INTEGER NOT NULL,
        session_id TEXT,
        user TEXT,
        cached INTEGER NOT NULL,
        retried INTEGER NOT NULL,
        fallback INTEGER NOT NULL,
        variant TEXT
    )""",
    # One covering index serves every time-window query: spend (any scope), unknown-cost models and the daily
    # chart read only the index; usage and health range-scan it and look the rows up.
    "CREATE INDEX requests_ts ON requests (ts, routed_model, requested_model, user, cost_usd)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL
    )""",
    """CREATE TABLE budget_alerts (
        budget TEXT NOT NULL,
        period_key TEXT NOT NULL,
        fraction REAL NOT NULL,
        ts REAL NOT NULL,
        UNIQUE (budget, period_key, fraction)
    )""",
)

_V2: Migration = (
    # One row per request a rate-limited user was let through, kept for the length of the rate window, so
    # every worker and a restarted proxy count the same requests per minute.
    "CREATE TABLE admissions (user TEXT NOT NULL, ts REAL NOT NULL)",
    "CREATE INDEX admissions_user_ts ON admissions (user, ts)",
)

_V3: Migration = (
    # Costs per project and per agent. Rows written before have NULL in both (reported as "(none)").
    "ALTER TABLE requests ADD COLUMN project TEXT",
    "ALTER TABLE requests ADD COLUMN agent TEXT",
    # A project-scoped budget's spend is re-read every 2 s; `requests_ts` doesn't cover `project`, so without
    # this the month's rows are looked up one by one (53 ms for 50,000 rows of a month, 300,000 in all); with
    # it an index-only read (0.1 ms). Costs about 1 us per insert (measured: 20,000 rows 84 -> 100 ms).
    "CREATE INDEX requests_project_ts ON requests (project, ts, cost_usd)",
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3)
"""Step i takes the schema from version i to i + 1 (`PRAGMA user_version`; 0 is an empty file). Append only."""

SCHEMA_VERSION = len(MIGRATIONS)

logger = logging.getLogger(__name__)

_REQUEST_COLUMNS = (
    "request_id, ts, label, requested_model, routed_model, provider_model, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_usd, latency_ms, ttfb_ms, outcome, "
    "stream, session_id, user, cached, retried, fallback, variant, project, agent"
)
INSERT_REQUEST = f"INSERT OR IGNORE INTO requests ({_REQUEST_COLUMNS}) VALUES ({', '.join('?' * 24)})"
"""Inserts one `request_row`; a request_id already stored is left alone, so a retried write never counts twice."""


class LedgerError(Exception):
    """The ledger cannot do what was asked; the message says why in words a user can act on."""


class SchemaVersionError(LedgerError):
    """The file was written by a newer ccproxy-desktop than this one."""


class LedgerUnavailableError(LedgerError):
    """The file cannot be opened, read or (for alerts and events) written right now; the message says why."""


class LedgerClosedError(LedgerError):
    """The ledger was closed; only `record` still works (it writes synchronously)."""


def request_row(rec: RequestRecord) -> tuple[object, ...]:
    """The values of `INSERT_REQUEST` for one record, in column order (flags as 0/1)."""
    u = rec.usage
    return (
        rec.request_id,
        rec.ts,
        rec.label,
        rec.requested_model,
        rec.routed_model,
        rec.provider_model,
        u.input,
        u.output,
        u.cache_read,
        u.cache_write_5m,
        u.cache_write_1h,
        rec.cost_usd,
        rec.latency_ms,
        rec.ttfb_ms,
        rec.outcome,
        int(rec.stream),
        rec.session_id,
        rec.user,
        int(rec.cached),
        rec.retried,
        int(rec.fallback),
        rec.variant,
        rec.project,
        rec.agent,
    )


def connect(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """Open `path` (creating it 0600 if missing) in autocommit mode with WAL, `synchronous=NORMAL` and
    `busy_timeout`, migrated to `SCHEMA_VERSION`.

    The connection may be closed from another thread (the `Ledger` closes its readers at `close`) but must
    only be used by one thread at a time. Raises OSError or sqlite3.Error when the file cannot be created or
    opened, SchemaVersionError when it is newer than this code.
    """
    _create_private(path)
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False, factory=_Connection
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory: works, but writers block readers
            logger.warning("ledger %s: journal mode is %s, not wal", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema to `len(migrations)` and return that version.

    All missing steps run in one IMMEDIATE transaction, so a failing step leaves the file as it was and two
    processes opening an old file at once migrate it once. Raises SchemaVersionError if the file is newer.
    """
    target = len(migrations)
    if _user_version(conn) == target:
        return target
    with transaction(conn, write=True):
        current = _user_version(conn)  # again, under the write lock: another process may have migrated
        if current > target:
            raise SchemaVersionError(
                f"the ledger {_db_path(conn)} has schema version {current}, newer than the {target} this "
                "ccproxy-desktop knows: upgrade ccproxy-desktop, or move the file aside to start a new ledger"
            )
        for step in migrations[current:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
    return target


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[None]:
    """One transaction on an autocommit connection: committed if the block ends normally, else rolled back.

    `write=True` takes the write lock up front (BEGIN IMMEDIATE, waiting up to the busy timeout), so the
    transaction never fails half-way because another process wrote first; `write=False` is a read snapshot.
    """
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite has already rolled back after some errors (e.g. disk full)
            conn.execute("ROLLBACK")
        raise


class _Connection(sqlite3.Connection):
    """A plain connection that can be weakly referenced (the ledger tracks its readers in a WeakSet)."""


def _create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists; an existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _db_path(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2])
