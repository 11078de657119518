"""The per-user rate window in the ledger: a sliding window, shared by every Ledger on the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccproxy_desktop.ledger.store import Ledger


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sliding_window_admits_the_limit_then_says_when_the_next_fits(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    with Ledger(tmp_path / "ledger.db", clock=clock) as ledger:
        assert ledger.admit("alice", 60, 2) is None
        clock.now = 1010.0
        assert ledger.admit("alice", 60, 2) is None
        clock.now = 1030.0
        assert ledger.admit("alice", 60, 2) == pytest.approx(30.0)  # the first leaves the window at 1060
        assert ledger.admit("bob", 60, 2) is None  # per user
        clock.now = 1060.0
        assert ledger.admit("alice", 60, 2) is None
        assert ledger.admit("alice", 60, 2) == pytest.approx(10.0)
        assert ledger.admissions(1000.0) == {"alice": 2, "bob": 1}


def test_two_ledgers_on_one_file_share_the_window(tmp_path: Path) -> None:
    """Two proxy workers (or a proxy before and after a restart) count the same requests."""
    clock = Clock(1000.0)
    with (
        Ledger(tmp_path / "ledger.db", clock=clock) as first,
        Ledger(tmp_path / "ledger.db", clock=clock) as second,
    ):
        assert first.admit("alice", 60, 3) is None
        assert second.admit("alice", 60, 3) is None
        assert first.admit("alice", 60, 3) is None
        assert second.admit("alice", 60, 3) is not None
    with Ledger(tmp_path / "ledger.db", clock=clock) as restarted:
        assert restarted.admit("alice", 60, 3) is not None


def test_old_admissions_are_deleted(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    with Ledger(tmp_path / "ledger.db", clock=clock) as ledger:
        for _ in range(50):
            ledger.admit("alice", 60, 100)
        clock.now = 2000.0
        ledger.admit("alice", 60, 100)
        assert ledger.admissions(0.0) == {"alice": 1}
