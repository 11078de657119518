"""Several processes on one ledger file: concurrent writers, racing alert claims, kill -9, exit without close,
and a file the process may not write. The processes run `ledger_worker.py`."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ccproxy_desktop
from ccproxy_desktop.ledger.records import RequestRecord
from ccproxy_desktop.ledger.store import Ledger

WORKER = Path(__file__).with_name("ledger_worker.py")
PACKAGE_ROOT = Path(ccproxy_desktop.__file__).resolve().parents[1]  # the children import the code under test


class Worker:
    """`ledger_worker.py MODE PATH ARGS...` in a subprocess. Its stdout is read on a thread, so every wait
    for a line has a deadline."""

    def __init__(self, *args: str, wrapper: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [*wrapper, sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, name="worker-stdout", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self, timeout: float = 20.0) -> str:
        """The next line printed; fails the test if none comes in time or the worker exited."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{self.proc.args!r} printed nothing for {timeout}s")
        if line is None:
            pytest.fail(f"{self.proc.args!r} exited with {self.proc.wait(10)}: {self._stderr()}")
        return line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 30.0) -> None:
        code = self.proc.wait(timeout)
        assert code == 0, self._stderr()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def _stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


@pytest.fixture
def start() -> Iterator[type[Worker]]:
    """Hands out `Worker`; any worker still running when the test ends is killed."""
    started: list[Worker] = []

    class Tracked(Worker):
        def __init__(self, *args: str, wrapper: tuple[str, ...] = ()) -> None:
            super().__init__(*args, wrapper=wrapper)
            started.append(self)

    yield Tracked
    for worker in started:
        worker.stop()


def stored_ids(path: Path) -> set[str]:
    return {rid for (rid,) in sqlite3.connect(path).execute("SELECT request_id FROM requests")}


def test_two_processes_writing_at_once_lose_nothing(ledger_path: Path, start: type[Worker]) -> None:
    Ledger(
        ledger_path
    ).close()  # the schema exists before the race (opening a new file at once is tested below)
    writers = [start("write", str(ledger_path), prefix, "2000") for prefix in ("a", "b")]
    for writer in writers:
        assert writer.line() == "ready"
    for writer in writers:
        writer.go()
    for writer in writers:
        assert writer.line(timeout=60) == "done 0"
        writer.finish()
    ids = stored_ids(ledger_path)
    assert len(ids) == 4000
    assert ids == {f"{p}-{i}" for p in "ab" for i in range(2000)}


def test_processes_racing_for_an_alert_claim_it_once(tmp_path: Path, start: type[Worker]) -> None:
    path = tmp_path / "fresh.db"  # both create and migrate the new file at once, too
    claimers = [start("claim", str(path), "200") for _ in range(2)]
    for claimer in claimers:
        assert claimer.line() == "ready"
    for claimer in claimers:
        claimer.go()
    results = [json.loads(claimer.line()) for claimer in claimers]
    for claimer in claimers:
        claimer.finish()
    assert all(a != b for a, b in zip(*results, strict=True))  # each key: exactly one True
    events = sqlite3.connect(path).execute("SELECT count(*) FROM events WHERE kind = 'budget_alert'")
    assert events.fetchone() == (200,)


@pytest.mark.parametrize("flushes_before_kill", [1, 5])
def test_kill_9_keeps_every_committed_row(
    ledger_path: Path,
    start: type[Worker],
    make_record: Callable[..., RequestRecord],
    flushes_before_kill: int,
) -> None:
    writer = start("crash", str(ledger_path))
    reports = [writer.line() for _ in range(flushes_before_kill)]
    writer.proc.send_signal(signal.SIGKILL)  # mid-stream: the worker keeps recording after each flush
    writer.proc.wait(10)

    conn = sqlite3.connect(ledger_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    flushed = int(reports[-1].removeprefix("flushed "))
    assert {f"c-{i}" for i in range(flushed)} <= stored_ids(ledger_path)
    with Ledger(ledger_path) as reopened:  # and the ledger goes on from there
        before = reopened.count()
        reopened.record(make_record(request_id="after-restart"))
        assert reopened.flush()
        assert reopened.count() == before + 1


def test_records_queued_at_a_normal_exit_are_written(ledger_path: Path, start: type[Worker]) -> None:
    worker = start("exit", str(ledger_path), "500")  # a 60 s flush interval, and it never calls close()
    assert worker.line() == "queued 500"
    worker.finish()
    assert len(stored_ids(ledger_path)) == 500


def test_a_read_only_file_is_reported_not_raised(ledger_path: Path, start: type[Worker]) -> None:
    Ledger(ledger_path).close()
    ledger_path.chmod(0o444)
    # root ignores file modes unless it gives up the capabilities that let it
    wrapper = (
        ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner") if os.geteuid() == 0 else ()
    )
    worker = start("readonly", str(ledger_path), wrapper=wrapper)
    report = json.loads(worker.line())
    worker.finish()
    assert report["written"] is False
    assert report["pending"] == 1
    assert "readonly database" in report["last_error"]
