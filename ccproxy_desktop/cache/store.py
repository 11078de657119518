"""Where cached answers live: an SQLite file shared by every worker and the CLI, or each worker's memory.

Both stores keep opaque text values under a key and the routed model they were made for, expire entries
`ttl` seconds after they were stored, and evict the least recently used entries beyond `max_entries` or
`max_bytes` (value sizes). `clear(model)` drops one model's entries (all when `model` is None).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..config.paths import ConfigPaths
from ..config.schema import CacheSpec
from ..ledger.schema import _create_private, transaction

__all__ = [
    "CacheStats",
    "MemoryResponseStore",
    "ResponseStore",
    "SqliteResponseStore",
    "cache_db_path",
    "open_response_store",
]

BUSY_TIMEOUT_S = 5.0


def cache_db_path(paths: ConfigPaths) -> Path:
    return paths.config_dir / "cache.db"


@dataclass(frozen=True)
class CacheStats:
    entries: int
    size_bytes: int
    by_model: dict[str, int] = field(default_factory=dict)


class ResponseStore(Protocol):
    def get(self, key: str) -> str | None:
        """The value stored under `key`, unless missing or expired; marks it recently used."""

    def put(self, key: str, model: str, value: str) -> None:
        """Store `value` (replacing any entry under `key`), then evict down to the bounds."""

    def clear(self, model: str | None = None) -> int:
        """Drop `model`'s entries (every entry when None); returns how many were dropped."""

    def stats(self) -> CacheStats:
        """Live entries (expired ones excluded) and their total size."""

    def close(self) -> None: ...


class MemoryResponseStore:
    """One process's store: an LRU dict under a lock."""

    def __init__(
        self, ttl: float, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl, self.max_entries, self.max_bytes, self.clock = ttl, max_entries, max_bytes, clock
        self._items: OrderedDict[str, tuple[str, str, float]] = OrderedDict()  # key -> model, value, created
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[2] <= self.clock() - self.ttl:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, model: str, value: str) -> None:
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (model, value, self.clock())
            self._bytes += len(value)
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                self._drop(next(iter(self._items)))

    def clear(self, model: str | None = None) -> int:
        with self._lock:
            keys = [k for k, item in self._items.items() if model is None or item[0] == model]
            for key in keys:
                self._drop(key)
            return len(keys)

    def stats(self) -> CacheStats:
        with self._lock:
            live = [item for item in self._items.values() if item[2] > self.clock() - self.ttl]
        by_model: dict[str, int] = {}
        for model, _, _ in live:
            by_model[model] = by_model.get(model, 0) + 1
        return CacheStats(len(live), sum(len(v) for _, v, _ in live), by_model)

    def close(self) -> None:
        self.clear()

    def _drop(self, key: str) -> None:
        self._bytes -= len(self._items.pop(key)[1])


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS responses (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        value TEXT NOT NULL,
        size INTEGER NOT NULL,
        created REAL NOT NULL,
        used REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS responses_used ON responses (used)",
    "CREATE INDEX IF NOT EXISTS responses_model ON responses (model)",
)

# Beyond the newest `max_entries` by use, or beyond `max_bytes` counted from the most recently used.
_EVICT = """DELETE FROM responses WHERE created <= ? OR key IN (
    SELECT key FROM (
        SELECT key, row_number() OVER w AS n, sum(size) OVER w AS running FROM responses
        WINDOW w AS (ORDER BY used DESC, key)
    ) WHERE n > ? OR running > ?
)"""


class SqliteResponseStore:
    """`cache.db` (0600, WAL) in the config folder: shared by the proxy's workers and `ccproxy cache`.

    Safe to call from several threads (one connection under a lock); each call is one short transaction.
    """

    def __init__(
        self,
        path: Path,
        ttl: float,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.ttl, self.max_entries, self.max_bytes, self.clock = (
            path,
            ttl,
            max_entries,
            max_bytes,
            clock,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
        self._conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with transaction(self._conn, write=True):
                for statement in _SCHEMA:
                    self._conn.execute(statement)

    def get(self, key: str) -> str | None:
        now = self.clock()
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM responses WHERE key = ? AND created > ?", (key, now - self.ttl)
            ).fetchone()
            if row is None:
                return None
            self._conn.execute("UPDATE responses SET used = ? WHERE key = ?", (now, key))
            return str(row[0])

    def put(self, key: str, model: str, value: str) -> None:
        now = self.clock()
        with self._lock, transaction(self._conn, write=True):
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, value, size, created, used) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, value, len(value), now, now),
            )
            self._conn.execute(_EVICT, (now - self.ttl, self.max_entries, self.max_bytes))

    def clear(self, model: str | None = None) -> int:
        with self._lock:
            if model is None:
                cursor = self._conn.execute("DELETE FROM responses")
            else:
                cursor = self._conn.execute("DELETE FROM responses WHERE model = ?", (model,))
            return int(cursor.rowcount)

    def stats(self) -> CacheStats:
        since = self.clock() - self.ttl
        with self._lock:
            rows = self._conn.execute(
                "SELECT model, count(*), total(size) FROM responses WHERE created > ? GROUP BY model",
                (since,),
            ).fetchall()
        by_model = {str(model): int(n) for model, n, _ in rows}
        return CacheStats(sum(by_model.values()), int(sum(size for _, _, size in rows)), by_model)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_response_store(paths: ConfigPaths, spec: CacheSpec) -> ResponseStore:
    """The store `spec` describes (raises OSError/sqlite3.Error when the file can't be opened)."""
    bounds = (spec.ttl_seconds, spec.max_entries, int(spec.max_size_mb * 1024 * 1024))
    if spec.storage == "memory":
        return MemoryResponseStore(*bounds)
    return SqliteResponseStore(cache_db_path(paths), *bounds)
