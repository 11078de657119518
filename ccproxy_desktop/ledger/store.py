"""The usage ledger on SQLite: one row per request, shared by every process that opens the same file.

Writes never block the caller: `Ledger.record` queues the record for one `ledger-writer` thread, which
commits in batches of up to `batch_size` rows at most `flush_interval` seconds after the first of them was
taken (plus the previous commit's time when it is busy). A failing write (disk full, read-only file, another
process holding the lock past the busy timeout) keeps its batch and is retried with backoff; the failure is
logged once and shown in `last_error` and `pending`. Queries run synchronously on a connection of the calling
thread's own; each is one indexed SQL statement per figure (see `queries`).
"""

from __future__ import annotations

import atexit
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, tzinfo
from pathlib import Path

from ccproxy_desktop.ledger import queries
from ccproxy_desktop.ledger.health_state import (
    RECENT_REQUESTS,
    RECENT_WINDOW_S,
    ProviderHealth,
    provider_health,
)
from ccproxy_desktop.ledger.queries import GroupBy, HealthSnapshot, UsageReport
from ccproxy_desktop.ledger.records import Event, RequestRecord
from ccproxy_desktop.ledger.schema import (
    INSERT_REQUEST,
    LedgerClosedError,
    LedgerUnavailableError,
    connect,
    request_row,
    transaction,
)

__all__ = ["Ledger", "OnCommit"]

logger = logging.getLogger(__name__)

OnCommit = Callable[[list[RequestRecord]], None]
"""Called in the writer thread with the records a transaction has just stored (not those already there)."""

_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 2.0
# A record that is malformed, cannot be bound or violates a constraint: retrying cannot help, so it is
# dropped and logged.
_BAD_ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
    AttributeError,
    TypeError,
    ValueError,
)


class _Flush:
    """Asks the writer to commit what it holds now rather than at the end of the flush interval."""


_FLUSH = _Flush()


@dataclass(frozen=True)
class _Stop:
    """Asks the writer to commit everything and exit, giving up on failing writes at `deadline` (monotonic)."""

    deadline: float


_Item = RequestRecord | _Flush | _Stop


class _Progress:
    """What callers and the writer share: records queued and settled (stored, already there, or rejected),
    whether the ledger is closed, and the last write error."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queued = 0
        self._settled = 0
        self._closed = False
        self.last_error: str | None = None

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def pending(self) -> int:
        return self._queued - self._settled

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, q: queue.SimpleQueue[_Item], rec: RequestRecord) -> bool:
        """Queue `rec` and count it, unless closed (then False). Atomic with `close`, so a record is either
        ahead of the writer's stop request or refused: never left behind it."""
        with self._cond:
            if self._closed:
                return False
            self._queued += 1
            q.put(rec)
            return True

    def close(self) -> bool:
        """Refuse further records; False if already closed."""
        with self._cond:
            was_open = not self._closed
            self._closed = True
            return was_open

    def settle(self, n: int) -> None:
        with self._cond:
            self._settled += n
            self._cond.notify_all()

    def wait_settled(self, target: int, timeout: float) -> bool:
        """Wait until the first `target` records queued have settled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._settled >= target, timeout)


class Ledger:
    """The ledger file at `path` (its folder must exist): a queue-fed writer thread plus synchronous queries.

    `clock` stamps events and alerts (requests carry their own `ts`). `busy_timeout` is how long one
    statement waits for another process's lock before counting as failed. `on_commit` runs in the writer
    thread after each committed batch; it may call queries and `claim_alert` but not `flush`, and its
    exceptions are logged once per exception type.

    Raises SchemaVersionError if the file is newer than this code. Any other problem opening the file is
    logged and kept in `last_error`; the writer keeps retrying and queries raise LedgerUnavailableError.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 0.2,
        batch_size: int = 200,
        busy_timeout: float = 5.0,
        on_commit: OnCommit | None = None,
    ) -> None:
        if flush_interval < 0 or batch_size < 1 or busy_timeout < 0:
            raise ValueError("flush_interval and busy_timeout must be >= 0 and batch_size >= 1")
        self.path = path
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._readers: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        self._progress = _Progress()
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._shut = False  # close() has finished: queries refuse
        self._open_first()
        writer = _Writer(
            path,
            self._queue,
            self._progress,
            self._local,
            busy_timeout=busy_timeout,
            flush_interval=flush_interval,
            batch_size=batch_size,
            on_commit=on_commit,
        )
        self._thread = threading.Thread(target=writer.run, name="ledger-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a record queued just before a normal exit is still written

    # -- writing ---------------------------------------------------------------------------------------

    def record(self, rec: RequestRecord) -> None:
        """Queue `rec` for the writer and return at once; never raises. A record whose request_id is already
        stored is ignored. After `close`, the record is written synchronously instead (shutdown stragglers)."""
        if not self._progress.submit(self._queue, rec):
            self._write_after_close(rec)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record queued before this call is committed; False if `timeout` passed first
        (the writer is failing: see `last_error`). Not callable from `on_commit`."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("Ledger.flush() from on_commit would wait for the writer thread it runs on")
        target = self._progress.queued
        if self._progress.pending == 0 or self._progress.closed:
            return self._progress.pending == 0
        self._queue.put(_FLUSH)
        return self._progress.wait_settled(target, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Write everything queued, stop the writer and close this ledger's connections. Gives up on a failing
        write after `timeout` (logging how many records were lost). True if nothing was lost. Idempotent."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("Ledger.close() from on_commit would wait for the writer thread it runs on")
        if not self._progress.close():
            return self._progress.pending == 0
        atexit.unregister(self.close)
        self._queue.put(_Stop(time.monotonic() + timeout))
        self._thread.join(timeout + self._busy_timeout + 1.0)  # its last attempt may wait the busy timeout
        self._shut = True  # only now: on_commit of the last batches may still query and claim alerts
        with self._readers_lock:
            for conn in list(self._readers):
                conn.close()
            self._readers.clear()
        return self._progress.pending == 0

    @property
    def pending(self) -> int:
        """Records queued but not yet committed."""
        return self._progress.pending

    @property
    def last_error(self) -> str | None:
        """Why the last write attempt failed (`"OperationalError: database is locked"`), None once one succeeds."""
        return self._progress.last_error

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries (any thread) -------------------------------------------------------------------------

    def spend(
        self,
        since: float,
        until: float | None = None,
        *,
        model: str | None = None,
        user: str | None = None,
        project: str | None = None,
    ) -> float:
        """Known cost in USD of the requests with `since <= ts < until`, optionally of one model (routed or
        requested), one user and/or one project."""
        with self._connection() as conn:
            return queries.spend(conn, since, until, model=model, user=user, project=project)

    def unknown_cost_models(self, since: float) -> list[str]:
        """Routed models of requests since `since` that have no known cost."""
        with self._connection() as conn:
            return queries.unknown_cost_models(conn, since)

    def usage(
        self, since: float | None, until: float | None = None, group_by: GroupBy | None = None
    ) -> UsageReport:
        """Requests, tokens and cost in the window, in total and per `group_by` key (see `queries.usage`)."""
        with self._connection() as conn:
            return queries.usage(conn, since, until, group_by)

    def health(self, since: float | None = None) -> HealthSnapshot:
        """Request counts by outcome, model and rule, and latency percentiles of successful requests."""
        with self._connection() as conn:
            return queries.health(conn, since)

    def provider_health(self) -> ProviderHealth:
        """`ok` or `degraded` from the latest requests (the rule is in `health_state`)."""
        since = self._clock() - RECENT_WINDOW_S
        with self._connection() as conn:
            return provider_health(queries.recent_outcomes(conn, since, RECENT_REQUESTS))

    def daily_spend_by_model(self, since: float, tz: tzinfo) -> list[tuple[date, str, float]]:
        """Known cost per local day in `tz` and routed model since `since`, for the chart."""
        with self._connection() as conn:
            return queries.daily_spend_by_model(conn, since, tz)

    def claim_alert(self, budget: str, period_key: str, fraction: float, payload: dict[str, object]) -> bool:
        """True for exactly one caller across threads, processes and restarts per (budget, period_key,
        fraction); that caller's claim also stores a `budget_alert` event with `payload`."""
        with self._connection() as conn:
            return queries.claim_alert(conn, budget, period_key, fraction, payload, self._clock())

    def admit(self, user: str, window: float, limit: int) -> float | None:
        """Admit one request of `user` under a limit of `limit` per sliding `window` seconds, counted across
        processes and restarts: None if admitted, else the seconds until one more request would be. Blocks
        for one write transaction (call it off the event loop)."""
        now = self._clock()
        with self._connection() as conn:
            admitted, oldest = queries.admit(conn, user, now, window, limit)
        return None if admitted else oldest + window - now

    def admissions(self, since: float) -> dict[str, int]:
        """Requests let through per rate-limited user since `since`."""
        with self._connection() as conn:
            return queries.admissions(conn, since)

    def alerts_sent(self, budget: str, period_key: str) -> list[float]:
        """Fractions of `budget` already alerted in `period_key`, ascending."""
        with self._connection() as conn:
            return queries.alerts_sent(conn, budget, period_key)

    def add_event(self, kind: str, payload: dict[str, object]) -> int:
        """Store an event now (synchronously) and return its id."""
        with self._connection() as conn:
            return queries.add_event(conn, kind, payload, self._clock())

    def events(self, after_id: int = 0, kinds: Collection[str] | None = None) -> list[Event]:
        """Events newer than `after_id`, oldest first, optionally only of `kinds`."""
        with self._connection() as conn:
            return queries.events(conn, after_id, kinds)

    def count(self) -> int:
        """How many requests are stored."""
        with self._connection() as conn:
            return queries.count(conn)

    # -- connections ----------------------------------------------------------------------------------

    def _open_first(self) -> None:
        """Create and migrate the file now, so a too-new schema fails loudly at startup."""
        try:
            self._local.conn = self._open_reader()
            self._local.file = _file_identity(self.path)
        except (sqlite3.Error, OSError) as exc:
            self._progress.last_error = _reason(exc)
            logger.warning("ledger %s cannot be opened: %s", self.path, self._progress.last_error)

    def _replaced(self) -> bool:
        """True when the file this thread's reader has open is no longer the one at the path (deleted with its
        config folder, or replaced). The writer thread's connection is the writer's to check."""
        if threading.current_thread() is self._thread:
            return False
        return bool(getattr(self._local, "file", None) != _file_identity(self.path))

    def _open_reader(self) -> sqlite3.Connection:
        conn = connect(self.path, busy_timeout=self._busy_timeout)
        with self._readers_lock:
            self._readers.add(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (in the writer thread, the writer's). Raises LedgerClosedError after
        `close`, LedgerUnavailableError when the file cannot be opened or the statement fails."""
        if self._shut:
            raise LedgerClosedError(f"the ledger {self.path} is closed")
        try:
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is not None and self._replaced():
                conn.close()
                conn = self._local.conn = None
            if conn is None:
                conn = self._local.conn = self._open_reader()
                self._local.file = _file_identity(self.path)
            yield conn
        except (sqlite3.Error, OSError) as exc:
            raise LedgerUnavailableError(f"ledger {self.path}: {_reason(exc)}") from exc

    def _write_after_close(self, rec: RequestRecord) -> None:
        """Write one record on a connection of its own: blocks up to the busy timeout, logs instead of raising."""
        try:
            conn = connect(self.path, busy_timeout=self._busy_timeout)
            try:
                conn.execute(INSERT_REQUEST, request_row(rec))
            finally:
                conn.close()
        except Exception as exc:  # record() never raises; the loss is logged and shown in last_error
            self._progress.last_error = _reason(exc)
            logger.warning(
                "ledger %s: request %s arrived after close and was lost: %s",
                self.path,
                rec.request_id,
                self._progress.last_error,
            )


class _Writer:
    """The `ledger-writer` thread's loop: batches queued records into transactions and retries failures."""

    def __init__(
        self,
        path: Path,
        q: queue.SimpleQueue[_Item],
        progress: _Progress,
        local: threading.local,
        *,
        busy_timeout: float,
        flush_interval: float,
        batch_size: int,
        on_commit: OnCommit | None,
    ) -> None:
        self._path = path
        self._queue = q
        self._progress = progress
        self._local = local  # the ledger's thread-local connections: ours serves queries made in on_commit
        self._busy_timeout = busy_timeout
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._on_commit = on_commit
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # the file `_conn` has open
        self._failures = 0
        self._logged_reason: str | None = None
        self._callback_errors: set[str] = set()

    def run(self) -> None:
        """Until stopped and drained (or past the stop deadline): collect a batch, write it, back off on failure."""
        backlog: list[RequestRecord] = []
        stop: _Stop | None = None
        while stop is None or backlog:
            if stop is None:
                stop = self._collect(backlog, wait=not backlog)
            if not backlog or self._write_batch(backlog):
                continue
            if stop is not None and time.monotonic() >= stop.deadline:
                break
            stop = self._pause(backlog, stop)
        if backlog:
            logger.error(
                "ledger %s: %d records could not be written before close: %s",
                self._path,
                len(backlog),
                self._progress.last_error,
            )
        self._drop_connection()

    def _collect(self, backlog: list[RequestRecord], *, wait: bool) -> _Stop | None:
        """Move queued records into `backlog` until it holds a batch. When `wait` (the writer is idle), block
        for a first record, then gather for up to `flush_interval`; otherwise take only what is queued
        already. A flush request ends the gathering; a stop request is returned."""
        deadline = None if wait else time.monotonic()
        while len(backlog) < self._batch_size:
            try:
                item = self._next(deadline)
            except queue.Empty:
                return None
            if isinstance(item, _Stop):
                return item
            if isinstance(item, _Flush):
                if backlog:
                    return None
                continue
            backlog.append(item)
            if deadline is None:
                deadline = time.monotonic() + self._flush_interval
        return None

    def _pause(self, backlog: list[RequestRecord], stop: _Stop | None) -> _Stop | None:
        """Wait out the backoff after a failure, still taking records; a flush or stop request cuts it short."""
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (self._failures - 1))
        deadline = time.monotonic() + delay
        if stop is not None:
            deadline = min(deadline, stop.deadline)
        while True:
            try:
                item = self._next(deadline)
            except queue.Empty:
                return stop
            if isinstance(item, _Stop):
                return item
            if isinstance(item, _Flush):
                return stop
            backlog.append(item)

    def _next(self, deadline: float | None) -> _Item:
        if deadline is None:
            return self._queue.get()
        return self._queue.get(timeout=max(0.0, deadline - time.monotonic()))

    def _write_batch(self, backlog: list[RequestRecord]) -> bool:
        """Commit the first `batch_size` records of `backlog` in one transaction and remove them; on failure
        keep them, record why and return False."""
        batch = backlog[: self._batch_size]
        try:
            inserted = self._insert(self._connection(), batch)
        except Exception as exc:  # whatever the cause, keep the batch and retry: callers must not lose rows
            self._failed(exc)
            return False
        del backlog[: len(batch)]
        self._succeeded()
        self._progress.settle(len(batch))
        if inserted and self._on_commit is not None:
            self._notify(self._on_commit, inserted)
        return True

    def _insert(self, conn: sqlite3.Connection, batch: list[RequestRecord]) -> list[RequestRecord]:
        """Insert `batch` in one transaction; return the records that were new. A record that cannot be
        stored at all (a constraint or binding error) is logged and skipped, not retried."""
        inserted: list[RequestRecord] = []
        with transaction(conn, write=True):
            for rec in batch:
                try:
                    changed = conn.execute(INSERT_REQUEST, request_row(rec)).rowcount
                except _BAD_ROW_ERRORS as exc:
                    logger.error(
                        "ledger %s: dropped request %r: %s", self._path, rec.request_id, _reason(exc)
                    )
                    continue
                if changed:
                    inserted.append(rec)
        return inserted

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and _file_identity(self._path) != self._file:
            # The file was deleted (its config folder with it) or replaced: rows written on would go into a
            # file nobody can open. Write to the one at the path now, or keep the rows until there is one.
            logger.warning("ledger %s was deleted or replaced; writing to the file at that path", self._path)
            self._drop_connection()
        if self._conn is None:
            self._conn = connect(self._path, busy_timeout=self._busy_timeout)
            self._file = _file_identity(self._path)
            self._local.conn = self._conn
        return self._conn

    def _drop_connection(self) -> None:
        """Close the connection so the next attempt reopens the file (it may have been replaced or fixed)."""
        if self._conn is not None:
            self._local.conn = None
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except sqlite3.Error as exc:
                logger.debug("ledger %s: closing the writer connection: %s", self._path, exc)

    def _failed(self, exc: Exception) -> None:
        reason = _reason(exc)
        self._failures += 1
        self._progress.last_error = reason
        if reason != self._logged_reason:  # once per distinct reason, not once per retry or per row
            self._logged_reason = reason
            logger.warning(
                "ledger %s: cannot write %d pending records, retrying: %s",
                self._path,
                self._progress.pending,
                reason,
                exc_info=not isinstance(exc, sqlite3.Error | OSError),
            )
        self._drop_connection()

    def _succeeded(self) -> None:
        if self._failures:
            logger.info("ledger %s: writing again after %d failed attempts", self._path, self._failures)
        self._failures = 0
        self._logged_reason = None
        self._progress.last_error = None

    def _notify(self, on_commit: OnCommit, inserted: list[RequestRecord]) -> None:
        try:
            on_commit(inserted)
        except Exception as exc:  # the callback's bug must not stop the writer; logged once per kind
            kind = type(exc).__qualname__
            if kind not in self._callback_errors:
                self._callback_errors.add(kind)
                logger.exception("ledger %s: on_commit raised %s (logged once per kind)", self._path, kind)


def _file_identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` now (device, inode); None if none is."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
