"""Fixtures of the credential tests: a clock the test moves by hand, and an HTTP client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

START = 1_750_000_000.0


@dataclass
class FakeClock:
    """Wall-clock seconds that move only when the test says so."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """One default TLS context for all clients: loading the CA bundle costs 0.3 s per client otherwise."""
    return ssl.create_default_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls) as client:
        yield client
