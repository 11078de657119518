"""The check of a relayed event stream: well-formed events pass, in any chunking; garbage stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ccproxy_desktop.proxy.sse_check import MalformedStream, SseChecker, checked_stream, event_problem
from ccproxy_desktop.testing.fake_provider import anthropic_format
from ccproxy_desktop.testing.fake_provider.replies import Reply, Usage

REPLY = Reply(model="m", text="one two three", tool_call=None, usage=Usage(input_tokens=3, output_tokens=3))
GOOD_STREAM = b"".join(anthropic_format.message_events(REPLY))


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (b'event: ping\ndata: {"type": "ping"}', None),
        (b'data: {"a":\ndata: 1}', None),  # multi-line data is joined with a newline
        (b": a comment\nid: 7\nretry: 100", None),
        (b"event: message_start\ndata: {not json", "an event whose data is not JSON"),
        (b"data: \x00\xff garbage", "an event whose data is not JSON"),
        (b"this line is not server-sent events", "a line that is not a server-sent event field"),
    ],
)
def test_event_problem(event: bytes, problem: str | None) -> None:
    assert event_problem(event) == problem


@pytest.mark.parametrize("size", [1, 7, 64, len(GOOD_STREAM)])
def test_a_real_stream_passes_in_any_chunking(size: int) -> None:
    checker = SseChecker()
    for start in range(0, len(GOOD_STREAM), size):
        checker.feed(GOOD_STREAM[start : start + size])


def test_crlf_line_ends_are_events_too() -> None:
    SseChecker().feed(GOOD_STREAM.replace(b"\n", b"\r\n"))


def test_a_garbage_line_is_caught_before_its_event_ends() -> None:
    with pytest.raises(MalformedStream, match="not a server-sent event field"):
        SseChecker().feed(b"this line is not server-sent events\n")
    SseChecker().feed(b"event: ping\ndata: {")  # an unfinished event with good lines so far waits


def test_an_endless_event_is_garbage() -> None:
    checker = SseChecker(max_event_bytes=100)
    with pytest.raises(MalformedStream, match="longer than 100 bytes"):
        checker.feed(b"data: " + b"x" * 200)


async def _chunks(*items: object) -> AsyncIterator[object]:
    for item in items:
        yield item


async def test_checked_stream_stops_before_the_bad_chunk() -> None:
    first, second, *_ = anthropic_format.message_events(REPLY)
    passed: list[object] = []
    with pytest.raises(MalformedStream, match="malformed event stream: a line that is not"):
        async for chunk in checked_stream(_chunks(first, second[:10], second[10:], b"garbage\n\n")):
            passed.append(chunk)
    assert passed == [first, second[:10], second[10:]]


async def test_parsed_chunks_pass_unchecked() -> None:
    objects = [{"type": "message_start"}, object()]
    assert [c async for c in checked_stream(_chunks(*objects))] == objects
