"""The load benchmark, shortened for CI: 20 streaming clients for 20 s through the real proxy.

It asserts what must hold under load whatever the machine: no errors, and one ledger row per request with
one `ok` row per completed response. Timing and memory figures are printed, never asserted (the 10-minute
soak in docs/benchmarks.md judges memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.proxy

ROOT = Path(__file__).resolve().parents[2]


def test_twenty_streaming_clients_without_errors_and_a_row_per_response(tmp_path: Path) -> None:
    report_file = tmp_path / "load.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "load.py"),
        "--clients=20",
        "--duration=20",
        "--baseline-duration=0",
        "--words=60",
        f"--json={report_file}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_file.read_text())
    proxy = report["proxy"]
    assert report["warmup"]["completed"] == 4
    assert proxy["errors"] == 0, proxy["error_kinds"]
    assert proxy["completed"] >= 20  # every client finished at least one response
    assert report["ledger"] == {
        "rows": proxy["requests"],
        "ok_rows": proxy["completed"],
        "matches": True,
    }
    assert len(report["rss"]["series"]) >= 3  # the proxy's memory was sampled during the run
