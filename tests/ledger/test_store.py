"""The ledger's writer: records are queued, batched, committed within the flush interval, kept through
failures and written at close; `on_commit` sees each new row once."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.schema import LedgerClosedError, LedgerUnavailableError
from ccproxy_desktop.ledger.store import Ledger

MakeRecord = Callable[..., RequestRecord]
STORE_LOGGER = "ccproxy_desktop.ledger.store"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` every few milliseconds; fail the test if it does not hold within `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        pause.wait(0.005)


def state(ledger: Ledger) -> tuple[int, int, str | None]:
    """Rows stored, rows pending, last write error."""
    return ledger.count(), ledger.pending, ledger.last_error


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ledger-writer"]


def warnings_in(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STORE_LOGGER and r.levelno == level]


@pytest.fixture
def locked(ledger_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's view: a connection holding the write lock until the test rolls it back."""
    Ledger(ledger_path).close()
    holder = sqlite3.connect(ledger_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_record_only_queues_and_flush_commits(ledger_path: Path, make_record: MakeRecord) -> None:
    before = len(writer_threads())
    with Ledger(ledger_path, flush_interval=60) as ledger:
        assert len(writer_threads()) == before + 1
        assert all(t.daemon for t in writer_threads())
        ledger.record(make_record())
        assert (ledger.count(), ledger.pending) == (0, 1)  # a minute to go before the writer would commit
        assert ledger.flush()
        assert (ledger.count(), ledger.pending) == (1, 0)
        assert ledger.flush()  # nothing pending: returns at once
    assert len(writer_threads()) == before


def test_commits_within_the_flush_interval_without_flush(ledger_path: Path, make_record: MakeRecord) -> None:
    with Ledger(ledger_path, flush_interval=0.05) as ledger:
        ledger.record(make_record())
        wait_until(lambda: ledger.count() == 1, timeout=2.0)


def test_batches_hold_at_most_batch_size_rows(ledger_path: Path, make_record: MakeRecord) -> None:
    batches: list[int] = []
    with Ledger(
        ledger_path, flush_interval=60, batch_size=200, on_commit=lambda b: batches.append(len(b))
    ) as ledger:
        for _ in range(450):
            ledger.record(make_record())
        assert ledger.flush()
        assert batches == [200, 200, 50]  # full batches go at once; flush() sends the rest early


def test_on_commit_sees_each_new_row_once(ledger_path: Path, make_record: MakeRecord) -> None:
    seen: list[list[str]] = []
    with Ledger(ledger_path, on_commit=lambda b: seen.append([r.request_id for r in b])) as ledger:
        ledger.record(make_record(request_id="a"))
        ledger.record(make_record(request_id="b"))
        assert ledger.flush()
        ledger.record(make_record(request_id="a"))  # already stored: not reported again
        ledger.record(make_record(request_id="c"))
        assert ledger.flush()
    assert seen == [["a", "b"], ["c"]]


def test_on_commit_can_query_and_claim_alerts(ledger_path: Path, make_record: MakeRecord) -> None:
    threads: set[str] = set()

    def check_budget(batch: list[RequestRecord]) -> None:
        threads.add(threading.current_thread().name)
        if ledger.spend(0) >= 1.0:
            ledger.claim_alert("daily", "2024-03-10", 1.0, {"spent_usd": ledger.spend(0)})

    with Ledger(ledger_path, on_commit=check_budget) as ledger:
        for _ in range(3):
            ledger.record(make_record(cost_usd=0.5))
            assert ledger.flush()
        alerts = ledger.events(kinds=["budget_alert"])
    assert threads == {"ledger-writer"}
    assert [a.payload for a in alerts] == [{"spent_usd": 1.0}]


def test_on_commit_still_works_for_the_batches_written_by_close(
    ledger_path: Path, make_record: MakeRecord
) -> None:
    def alert(batch: list[RequestRecord]) -> None:
        ledger.claim_alert("daily", "2024-03-10", 1.0, {"requests": len(batch)})

    ledger = Ledger(ledger_path, flush_interval=60, on_commit=alert)
    ledger.record(make_record())
    assert ledger.close()  # commits the record, then runs on_commit, which claims the alert
    with Ledger(ledger_path) as reopened:
        assert [e.payload for e in reopened.events()] == [{"requests": 1}]


def test_on_commit_errors_are_logged_once_per_kind(
    ledger_path: Path, make_record: MakeRecord, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[type[Exception]] = [ValueError, ValueError, KeyError, ValueError]

    def broken(batch: list[RequestRecord]) -> None:
        raise errors.pop(0)("budget engine bug")

    with Ledger(ledger_path, on_commit=broken) as ledger:
        for _ in range(4):
            ledger.record(make_record())
            assert ledger.flush()
        assert ledger.count() == 4
    logged = warnings_in(caplog, logging.ERROR)
    assert len(logged) == 2
    assert "ValueError" in logged[0] and "KeyError" in logged[1]


def test_close_writes_everything_queued(ledger_path: Path, make_record: MakeRecord) -> None:
    ledger = Ledger(ledger_path, flush_interval=60)
    for _ in range(1000):
        ledger.record(make_record())
    assert ledger.close()
    assert ledger.pending == 0
    with Ledger(ledger_path) as reopened:
        assert reopened.count() == 1000


def test_after_close_record_writes_synchronously_and_queries_refuse(
    ledger_path: Path, make_record: MakeRecord
) -> None:
    ledger = Ledger(ledger_path)
    ledger.close()
    assert ledger.close()  # idempotent
    ledger.record(make_record(request_id="straggler"))  # a request that finished during shutdown
    with pytest.raises(LedgerClosedError):
        ledger.count()
    assert ledger.flush()
    with Ledger(ledger_path) as reopened:
        assert reopened.count() == 1


def test_a_malformed_record_is_dropped_alone(
    ledger: Ledger, make_record: MakeRecord, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.record(make_record(request_id="before"))
    ledger.record(make_record(request_id="huge", usage=TokenUsage(input=2**70)))  # no SQLite integer holds it
    ledger.record(make_record(request_id="after"))
    assert ledger.flush()
    assert ledger.count() == 2
    assert ledger.last_error is None
    assert any("'huge'" in message for message in warnings_in(caplog, logging.ERROR))


def test_a_held_lock_delays_writes_without_losing_them(
    ledger_path: Path, locked: sqlite3.Connection, make_record: MakeRecord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=STORE_LOGGER)
    with Ledger(ledger_path, busy_timeout=0.05) as ledger:
        for _ in range(3):
            ledger.record(make_record())  # never raises, never waits for the lock
        wait_until(lambda: ledger.last_error is not None)
        assert ledger.last_error == "OperationalError: database is locked"
        assert ledger.pending == 3
        assert not ledger.flush(timeout=0.5)  # the writer retries meanwhile
        assert ledger.count() == 0  # readers are not blocked by the writer lock
        assert len(warnings_in(caplog)) == 1  # one warning for the episode, not one per retry or row

        locked.execute("ROLLBACK")
        assert ledger.flush()
        assert state(ledger) == (3, 0, None)
    assert any("writing again" in m for m in warnings_in(caplog, logging.INFO))


def test_an_unusable_folder_is_reported_and_retried(tmp_path: Path, make_record: MakeRecord) -> None:
    folder = tmp_path / "config"
    folder.write_text("a file where the config folder should be")
    ledger = Ledger(folder / "ledger.db", busy_timeout=0.05)  # does not raise: the proxy keeps serving
    assert ledger.last_error is not None and "Not a directory" in ledger.last_error
    ledger.record(make_record())
    assert ledger.pending == 1
    assert not ledger.flush(timeout=0.2)
    with pytest.raises(LedgerUnavailableError, match="Not a directory"):
        ledger.count()

    folder.unlink()
    folder.mkdir()  # fixed: the writer's next attempt creates the file and writes the row
    assert ledger.flush()
    assert ledger.last_error is None
    assert ledger.count() == 1
    assert ledger.close()


def test_close_gives_up_on_a_write_that_keeps_failing(tmp_path: Path, make_record: MakeRecord) -> None:
    folder = tmp_path / "config"
    folder.write_text("not a folder")
    ledger = Ledger(folder / "ledger.db")
    ledger.record(make_record())
    started = time.monotonic()
    assert not ledger.close(timeout=0.2)
    assert time.monotonic() - started < 3.0
    assert ledger.pending == 1
