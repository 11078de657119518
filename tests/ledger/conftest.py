"""Fixtures of the ledger tests: a ledger file in tmp_path and a record builder."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger

NOW = 1_700_000_000.0
"""What the `ledger` fixture's clock says (events and alerts are stamped with it)."""

_BASE = RequestRecord(
    request_id="",
    ts=NOW,
    label="default",
    requested_model="claude-sonnet-4-5",
    routed_model="sonnet",
    provider_model="anthropic/claude-sonnet-4-5",
    usage=TokenUsage(input=100, output=10),
    cost_usd=0.5,
    latency_ms=100.0,
)


@pytest.fixture
def make_record() -> Callable[..., RequestRecord]:
    """Build a RequestRecord: defaults above, a fresh request_id, any field overridden by keyword."""
    ids = itertools.count()

    def make(**fields: object) -> RequestRecord:
        fields.setdefault("request_id", f"req-{next(ids)}")
        return replace(_BASE, **fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[Ledger]:
    with Ledger(ledger_path, clock=lambda: NOW) as opened:
        yield opened
