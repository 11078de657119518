"""Reads an Anthropic answer on its way to the client, without holding it back: checks each server-sent
event (`sse_check`), notes how the stream ended and takes the token usage from `message_start` and
`message_delta` (or from the JSON body of a non-streamed answer). Pure: no I/O.

The client gets the provider's bytes as they came, compressed or not; the watchers read a decoded copy
(`SideDecoder`: gzip and deflate, the encodings the native path lets the provider use).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from ..ledger.records import TokenUsage
from .sse_check import MAX_EVENT_BYTES, SseChecker
from .usage import usage_from_litellm

__all__ = ["DECODABLE_ENCODINGS", "JsonWatch", "SideDecoder", "StreamWatch", "anthropic_usage"]

DECODABLE_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity"})


class SideDecoder:
    """Decodes a copy of a body sent with `content-encoding` (gzip, deflate or none), chunk by chunk."""

    def __init__(self, content_encoding: str | None) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        self.unreadable = encoding not in DECODABLE_ENCODINGS

    def decode(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            return chunk
        try:
            return bytes(self._zlib.decompress(chunk))
        except zlib.error:
            self.unreadable = True
            self._zlib = None
            return b""


def anthropic_usage(usage: Any) -> TokenUsage:
    """An Anthropic `usage` object (input tokens without cache reads and writes) as a `TokenUsage`."""
    return usage_from_litellm({"usage": usage}) if isinstance(usage, dict) else TokenUsage()


def _event_data(event: bytes) -> Any:
    lines = [line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    try:
        return json.loads(b"\n".join(lines)) if lines else None
    except ValueError:
        return None


class StreamWatch:
    """Feed it every chunk before it is relayed; `feed` raises `sse_check.MalformedStream` at the first
    chunk that brings something that is not a server-sent event of JSON (that chunk must not be relayed)."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES, content_encoding: str | None = None) -> None:
        self._checker = SseChecker(max_event_bytes)
        self._decoder = SideDecoder(content_encoding)
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.completed = False  # message_stop seen
        self.error: dict[str, Any] | None = None  # the `error` of an `event: error`
        self.events = 0

    def feed(self, chunk: bytes) -> None:
        if self._decoder.unreadable:
            return  # an encoding we can't read: relayed unchecked, no usage
        for event in self._checker.feed(self._decoder.decode(chunk)):
            self._note(event)

    def _note(self, event: bytes) -> None:
        self.events += 1
        if b"message_st" not in event and b"message_delta" not in event and b"error" not in event:
            return
        data = _event_data(event)
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            message = data["message"]
            self.model = message.get("model") if isinstance(message.get("model"), str) else None
            if isinstance(message.get("usage"), dict):
                self.usage.update(message["usage"])
        elif kind == "message_delta" and isinstance(data.get("usage"), dict):
            self.usage.update({k: v for k, v in data["usage"].items() if v is not None})
        elif kind == "message_stop":
            self.completed = True
        elif kind == "error" and isinstance(data.get("error"), dict):
            self.error = data["error"]

    def token_usage(self) -> TokenUsage:
        return anthropic_usage(self.usage)


class JsonWatch:
    """A copy of a non-streamed answer, parsed at the end for its usage (Anthropic or OpenAI shape)."""

    def __init__(self, content_encoding: str | None = None) -> None:
        self._chunks: list[bytes] = []
        self._decoder = SideDecoder(content_encoding)

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(self._decoder.decode(chunk))

    @property
    def unreadable(self) -> bool:
        return self._decoder.unreadable

    def parsed(self) -> Any:
        try:
            return json.loads(b"".join(self._chunks))
        except ValueError:
            return None

    def body(self) -> bytes:
        return b"".join(self._chunks)

    def token_usage(self) -> TokenUsage:
        parsed = self.parsed()
        return usage_from_litellm(parsed) if isinstance(parsed, dict) else TokenUsage()
