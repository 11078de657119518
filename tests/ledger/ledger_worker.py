"""A process that uses a ledger the way the proxy's workers do, driven by the ledger tests.

Usage: ``python ledger_worker.py MODE PATH [ARGS]``. Modes that race another process print ``ready`` and wait
for a line on stdin before starting, so the test can release them together.

* ``write PATH PREFIX N``: record N rows (ids PREFIX-0...), close, print ``done <pending>``.
* ``claim PATH N``: claim N alerts (period keys p0...), print the results as a JSON list.
* ``crash PATH``: forever record 100 rows, flush, print ``flushed <total>``; the test kills it.
* ``exit PATH N``: record N rows with a long flush interval and exit without calling close.
* ``readonly PATH``: record one row into a file it may not write; print last_error and pending as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger


def row(request_id: str) -> RequestRecord:
    return RequestRecord(
        request_id=request_id,
        ts=time.time(),
        label="default",
        requested_model="sonnet",
        routed_model="sonnet",
        provider_model="anthropic/claude-sonnet-4-5",
        usage=TokenUsage(input=10, output=20),
        cost_usd=0.5,
        latency_ms=12.0,
    )


def wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def write(path: Path, prefix: str, n: int) -> None:
    ledger = Ledger(path, flush_interval=0.001, batch_size=20)
    wait_for_go()
    for i in range(n):
        ledger.record(row(f"{prefix}-{i}"))
    ledger.close(timeout=30)
    print(f"done {ledger.pending}", flush=True)


def claim(path: Path, n: int) -> None:
    ledger = Ledger(path)
    wait_for_go()
    results = [ledger.claim_alert("daily", f"p{i}", 0.75, {"i": i}) for i in range(n)]
    ledger.close()
    print(json.dumps(results), flush=True)


def crash(path: Path) -> None:
    ledger = Ledger(path, flush_interval=0.01, batch_size=10)
    total = 0
    while True:
        for _ in range(100):
            ledger.record(row(f"c-{total}"))
            total += 1
        if not ledger.flush(timeout=30):
            raise SystemExit(f"flush failed: {ledger.last_error}")
        print(f"flushed {total}", flush=True)


def exit_without_close(path: Path, n: int) -> None:
    ledger = Ledger(path, flush_interval=60)
    for i in range(n):
        ledger.record(row(f"x-{i}"))
    print(f"queued {ledger.pending}", flush=True)


def readonly(path: Path) -> None:
    ledger = Ledger(path, busy_timeout=0.1)
    ledger.record(row("ro-0"))
    written = ledger.flush(timeout=1.0)  # the writer fails and retries meanwhile
    print(json.dumps({"written": written, "last_error": ledger.last_error, "pending": ledger.pending}))
    ledger.close(timeout=0.1)


def main(argv: list[str]) -> None:
    mode, path, *args = argv
    db = Path(path)
    if mode == "write":
        write(db, args[0], int(args[1]))
    elif mode == "claim":
        claim(db, int(args[0]))
    elif mode == "crash":
        crash(db)
    elif mode == "exit":
        exit_without_close(db, int(args[0]))
    elif mode == "readonly":
        readonly(db)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
