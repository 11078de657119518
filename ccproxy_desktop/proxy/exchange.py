"""One client request and everything the proxy learns about it, in one object.

The guard creates the `Exchange` when a request arrives (who asked, with which key, the body parsed once)
and puts it in the ASGI scope's `state` (`scope["state"][EXCHANGE]`); the server fills in the decisions
(context, deployment, try) and the outcome (status, usage, timings) as it goes. Nothing travels through
side channels: the retry loop, the credential refresh, the ledger row and the log line all read this object.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ..ledger.records import TokenUsage
from ..pipeline.context import RequestContext
from .deployments import Deployment
from .rawjson import ParsedBody

__all__ = ["EXCHANGE", "Exchange", "exchange_of", "new_request_id"]

EXCHANGE = "ccproxy.exchange"


def new_request_id() -> str:
    return f"ccp-{uuid.uuid4().hex}"


@dataclass
class Exchange:
    """`headers` are the client's, as received (raw names and values, in order). `key` is the key the
    client authenticated with (never logged or stored), `user` the ccproxy user it belongs to (None: the
    owner's master key)."""

    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.monotonic)
    key: str | None = field(default=None, repr=False)
    user: str | None = None
    body: ParsedBody | None = field(default=None, repr=False)
    # decisions, per try
    ctx: RequestContext | None = field(default=None, repr=False)
    deployment: Deployment | None = None
    credential: tuple[str, str] | None = field(default=None, repr=False)  # (provider, token) we injected
    # outcome
    status: int | None = None
    ttfb_ms: float | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    outcome: str = "ok"
    provider_model: str = ""
    cached: bool = False
    cache_key: str | None = None  # this try's response-cache key (hashed once, for the lookup and the store)
    responded: bool = False  # the response has started reaching the client
    disconnected: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # the client left

    def header(self, name: bytes) -> str | None:
        """The first value of header `name` (lowercase bytes)."""
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None

    def header_map(self) -> dict[str, str]:
        """Lowercase name -> value (a repeated header keeps its last value)."""
        return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.headers}

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = self.elapsed_ms()


def exchange_of(scope: MutableMapping[str, Any]) -> Exchange:
    """The exchange the guard made for this request (a bare one if the request didn't pass the guard)."""
    state = scope.setdefault("state", {})
    found = state.get(EXCHANGE)
    if isinstance(found, Exchange):
        return found
    made = Exchange(
        method=str(scope.get("method", "")),
        path=str(scope.get("path", "")),
        query=bytes(scope.get("query_string", b"")),
        headers=list(_pairs(scope.get("headers", []))),
    )
    state[EXCHANGE] = made
    return made


def _pairs(items: Iterable[Any]) -> Iterable[tuple[bytes, bytes]]:
    for key, value in items:
        yield bytes(key), bytes(value)
