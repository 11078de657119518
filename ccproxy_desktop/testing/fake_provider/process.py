"""`fake_provider_process`: the fake provider in a process of its own, for benchmarks that must not share
their interpreter (and its GIL) with the server they measure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .client import FakeProviderClient

__all__ = ["fake_provider_process"]

STOP_TIMEOUT_S = 10.0


@contextmanager
def fake_provider_process(*options: str) -> Iterator[FakeProviderClient]:
    """Run `python -m ccproxy_desktop.testing.fake_provider --port 0 OPTIONS...` and yield a client of it
    (its `base_url` is where it listens); stop the process on exit."""
    command = [sys.executable, "-m", "ccproxy_desktop.testing.fake_provider", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("fake provider listening on "):
            raise RuntimeError(f"the fake provider did not start (exit code {process.wait(STOP_TIMEOUT_S)})")
        with FakeProviderClient(line.rsplit(" ", 1)[-1].strip()) as client:
            client.wait_until_ready()
            yield client
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
