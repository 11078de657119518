"""Check a provider's server-sent event stream on its way to the client, event by event.

LiteLLM relays an Anthropic provider's stream to the client byte for byte: a provider that answers 200 and
then sends lines that are not server-sent events (or events whose `data:` is not JSON) would reach the client
as such, and the ledger would record a success. `checked_stream` passes every complete, well-formed event on
and raises `MalformedStream` at the first one that is not; LiteLLM then ends the stream with an `event: error`
in Anthropic's shape and logs the request as failed (`error:MalformedStream`). Pure: no LiteLLM import.

A stream that ends in the middle of an event, or without `message_stop`, is a cut stream: not judged here.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["MAX_EVENT_BYTES", "MalformedStream", "SseChecker", "checked_stream"]

MAX_EVENT_BYTES = 8 * 1024 * 1024
"""An event longer than this without its closing blank line is treated as garbage."""

_EVENT_END = re.compile(rb"\r?\n\r?\n")
_FIELDS = (b"event:", b"data:", b"id:", b"retry:", b":")


class MalformedStream(Exception):  # its name is the ledger outcome: error:MalformedStream
    """The provider sent something that is not a server-sent event stream of JSON events."""


def event_problem(event: bytes) -> str | None:
    """Why one event (the lines between two blank lines) is malformed, or None when it is fine."""
    data: list[bytes] = []
    for line in event.splitlines():
        if not line.startswith(_FIELDS):
            return "a line that is not a server-sent event field"
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
    if not data:
        return None
    try:
        json.loads(b"\n".join(data))
    except (ValueError, UnicodeDecodeError):
        return "an event whose data is not JSON"
    return None


class SseChecker:
    """Feed it the stream's bytes in order; it returns the complete events seen so far, or raises."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pending = b""
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[bytes]:
        """Check the events `chunk` completes and return them; raise MalformedStream at the first malformed
        one."""
        *events, self._pending = _EVENT_END.split(self._pending + chunk)
        for event in events:
            problem = event_problem(event)
            if problem is not None:
                raise MalformedStream(f"the provider sent a malformed event stream: {problem}")
        # The complete lines of the unfinished event can be judged now (its JSON only once it is complete), so
        # that garbage is caught in the chunk that brings it, before anything of it is relayed.
        for line in self._pending.split(b"\n")[:-1]:
            if line.rstrip(b"\r") and not line.startswith(_FIELDS):
                raise MalformedStream(
                    "the provider sent a malformed event stream: a line that is not a server-sent event field"
                )
        if len(self._pending) > self._max:
            raise MalformedStream(
                f"the provider sent a malformed event stream: an event longer than {self._max} bytes"
            )
        return events


async def checked_stream(chunks: AsyncIterable[object]) -> AsyncIterator[object]:
    """`chunks` unchanged, checking the byte chunks (a relayed SSE stream) with an `SseChecker`; other
    chunks (LiteLLM's parsed stream objects) pass unchecked. A malformed event is not passed on."""
    checker = SseChecker()
    async for chunk in chunks:
        if isinstance(chunk, (bytes, bytearray)):
            checker.feed(bytes(chunk))
        yield chunk
