"""The fake provider, exercised with the real `anthropic` SDK and httpx over real sockets."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2  # the transport of this anthropic SDK: its streams raise httpx2 errors unwrapped
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types import responses as openai_responses
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, ValidationError

from ccproxy_desktop.testing.fake_provider import (
    Behaviour,
    FakeProvider,
    FakeProviderClient,
    FakeProviderServer,
    RecordedRequest,
    RequestLog,
    Scenario,
    UsageOverride,
)

MODEL = "claude-test-model"
HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}


# One provider and one pair of clients per module (an SDK client costs ~0.1 s of TLS setup to build);
# each test starts from a reset scenario and an empty log.
@pytest.fixture(scope="module")
def running_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(autouse=True)
def provider(running_provider: FakeProvider) -> FakeProvider:
    running_provider.scenario.reset()
    running_provider.clear()
    return running_provider


@pytest.fixture(scope="module")
def claude(running_provider: FakeProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=running_provider.base_url, api_key="x", max_retries=0, timeout=5
    ) as client:
        yield client


@pytest.fixture(scope="module")
def http(running_provider: FakeProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_provider.base_url, timeout=5) as client:
        yield client


def sse_events(lines: Iterator[str]) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) of each SSE event; `[DONE]` stays a string."""
    events: list[tuple[str | None, Any]] = []
    name: str | None = None
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
            events.append((name, data if data == "[DONE]" else json.loads(data)))
            name = None
    return events


def text_of(message: anthropic.types.Message) -> str:
    """The text of a message's first block, which must be a text block."""
    block = message.content[0]
    assert block.type == "text"
    return block.text


def stream_post(http: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.iter_lines())


# -- Anthropic Messages ----------------------------------------------------------------------------------


def test_message_names_the_model_and_estimates_usage(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=50, messages=HI)

    text = text_of(message)
    assert message.model == MODEL
    assert f"reply from {MODEL}" in text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(text.split())
    assert message.usage.input_tokens == claude.messages.count_tokens(model=MODEL, messages=HI).input_tokens
    assert message.usage.cache_read_input_tokens == 0
    (recorded, _count) = provider.requests
    assert (recorded.method, recorded.path, recorded.model) == ("POST", "/v1/messages", MODEL)
    # Which header carries the key depends on the SDK version.
    presented = (recorded.headers.get("x-api-key"), recorded.headers.get("authorization"))
    assert presented in {("x", None), (None, "Bearer x")}
    assert recorded.json == {"model": MODEL, "max_tokens": 50, "messages": HI}
    assert recorded.body_size >= len(json.dumps(recorded.json, separators=(",", ":")))


def test_stream_sends_the_real_event_sequence_with_cache_usage(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    usage = {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 300}
    cache_writes = {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 2}
    provider.scenario.push(Behaviour(usage=UsageOverride.model_validate(usage | cache_writes)))

    with claude.messages.stream(model=MODEL, max_tokens=50, messages=HI) as stream:
        events = list(stream)
        final = stream.get_final_message()

    types = [event.type for event in events]
    assert types[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert types.count("content_block_delta") >= 3
    assert events[0].type == "message_start"
    start_usage = events[0].message.usage
    assert (start_usage.input_tokens, start_usage.cache_read_input_tokens) == (11, 300)
    assert start_usage.cache_creation_input_tokens == 42
    assert start_usage.cache_creation is not None
    assert start_usage.cache_creation.ephemeral_5m_input_tokens == 40
    assert start_usage.cache_creation.ephemeral_1h_input_tokens == 2
    assert f"reply from {MODEL}" in text_of(final)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)
    assert final.usage.cache_read_input_tokens == 300


def test_stream_pings_after_the_first_block_opens(http: httpx.Client) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": True}

    events = stream_post(http, "/v1/messages", body)

    names = [name for name, _ in events]
    assert names[:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert [data["type"] for _, data in events] == names
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert events[-2][1]["usage"]["output_tokens"] == len(text.split())


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_marker_calls_the_tool_with_schema_arguments(
    claude: anthropic.Anthropic, stream: bool
) -> None:
    ask: list[MessageParam] = [{"role": "user", "content": "weather please [[tool_use]]"}]
    message: anthropic.types.Message
    if stream:
        with claude.messages.stream(model=MODEL, max_tokens=50, tools=[WEATHER_TOOL], messages=ask) as events:
            deltas = [event.delta.type for event in events if event.type == "content_block_delta"]
            message = events.get_final_message()
        assert "input_json_delta" in deltas
    else:
        message = claude.messages.create(model=MODEL, max_tokens=50, tools=[WEATHER_TOOL], messages=ask)

    tool_use = message.content[-1]
    assert message.stop_reason == "tool_use"
    assert tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "fake", "days": 1})


def test_no_tool_call_without_the_marker(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=50, tools=[WEATHER_TOOL], messages=HI)

    assert [block.type for block in message.content] == ["text"]


def test_count_tokens_reports_the_override(provider: FakeProvider, claude: anthropic.Anthropic) -> None:
    override = Behaviour(usage=UsageOverride(input_tokens=1234))
    provider.scenario.push(override, path="/v1/messages/count_tokens")

    assert claude.messages.count_tokens(model=MODEL, messages=HI).input_tokens == 1234
    assert claude.messages.count_tokens(model=MODEL, messages=HI).input_tokens < 1234


# -- OpenAI Chat Completions -----------------------------------------------------------------------------


def test_chat_completion_json(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(usage=UsageOverride(input_tokens=10, cache_read_input_tokens=5)))

    response = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": HI})

    completion = ChatCompletion.model_validate(response.json())
    assert completion.model == "gpt-test"
    assert "reply from gpt-test" in (completion.choices[0].message.content or "")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (15, 5)


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_completion_stream(http: httpx.Client, include_usage: bool) -> None:
    stream_options = {"include_usage": include_usage}
    body = {"model": "gpt-test", "messages": HI, "stream": True, "stream_options": stream_options}

    events = stream_post(http, "/v1/chat/completions", body)

    assert events[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate(data) for _, data in events[:-1]]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.startswith("reply from gpt-test")
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    usages = [(chunk.choices, chunk.usage.completion_tokens) for chunk in chunks if chunk.usage is not None]
    assert usages == ([([], len(text.split()))] if include_usage else [])


def test_chat_completion_tool_call(http: httpx.Client) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": [{"type": "text", "text": "[[tool_use:lookup]]"}]}]

    body = {"model": "gpt-test", "messages": messages, "tools": tools}

    response = http.post("/v1/chat/completions", json=body)

    choice = ChatCompletion.model_validate(response.json()).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"


# -- OpenAI Responses ------------------------------------------------------------------------------------


def test_responses_json(http: httpx.Client) -> None:
    body = {"model": "gpt-resp", "input": "hello", "instructions": "be brief"}

    response = http.post("/v1/responses", json=body)

    parsed = openai_responses.Response.model_validate(response.json())
    assert (parsed.object, parsed.status, parsed.model) == ("response", "completed", "gpt-resp")
    assert parsed.instructions == "be brief"
    assert parsed.output_text.startswith("reply from gpt-resp")
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == parsed.usage.input_tokens + parsed.usage.output_tokens


RESPONSES_EVENT_MODELS: dict[str, type[BaseModel]] = {
    "response.created": openai_responses.ResponseCreatedEvent,
    "response.in_progress": openai_responses.ResponseInProgressEvent,
    "response.output_item.added": openai_responses.ResponseOutputItemAddedEvent,
    "response.content_part.added": openai_responses.ResponseContentPartAddedEvent,
    "response.output_text.delta": openai_responses.ResponseTextDeltaEvent,
    "response.output_text.done": openai_responses.ResponseTextDoneEvent,
    "response.content_part.done": openai_responses.ResponseContentPartDoneEvent,
    "response.output_item.done": openai_responses.ResponseOutputItemDoneEvent,
    "response.completed": openai_responses.ResponseCompletedEvent,
}
RESPONSES_EVENT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_responses_stream_event_sequence(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(usage=UsageOverride(output_tokens=9, cache_read_input_tokens=100)))
    input_items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]

    body = {"model": "gpt-resp", "input": input_items, "stream": True}

    events = stream_post(http, "/v1/responses", body)

    # Validating against the specific event class (not the ResponseStreamEvent union) keeps the test fast.
    parsed: list[Any] = [RESPONSES_EVENT_MODELS[data["type"]].model_validate(data) for _, data in events]
    assert [name for name, _ in events] == [event.type for event in parsed]
    assert [number for number, event in enumerate(parsed)] == [event.sequence_number for event in parsed]
    collapsed = [t for i, t in enumerate(e.type for e in parsed) if i == 0 or parsed[i - 1].type != t]
    assert collapsed == RESPONSES_EVENT_ORDER
    deltas = "".join(e.delta for e in parsed if e.type == "response.output_text.delta")
    done = next(e for e in parsed if e.type == "response.output_text.done")
    assert len([e for e in parsed if e.type == "response.output_text.delta"]) >= 3
    assert deltas == done.text and deltas.startswith("reply from gpt-resp")
    completed = parsed[-1]
    assert completed.type == "response.completed" and completed.response.usage is not None
    assert completed.response.usage.output_tokens == 9
    assert completed.response.usage.input_tokens_details.cached_tokens == 100


def test_responses_stream_function_call(http: httpx.Client) -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    body = {"model": "gpt-resp", "input": "[[tool_use]]", "tools": tools, "stream": True}

    events = stream_post(http, "/v1/responses", body)

    names = [name for name, _ in events]
    assert "response.function_call_arguments.delta" in names
    final_output = events[-1][1]["response"]["output"]
    assert [item["type"] for item in final_output] == ["message", "function_call"]
    assert (final_output[1]["name"], final_output[1]["arguments"]) == ("lookup", "{}")


def test_responses_input_tokens(http: httpx.Client) -> None:
    response = http.post("/v1/responses/input_tokens", json={"model": "gpt-resp", "input": "hello"})

    assert response.json()["object"] == "response.input_tokens"
    assert response.json()["input_tokens"] > 0


# -- errors on demand ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_status_behaviour_raises_the_sdk_error(
    provider: FakeProvider,
    claude: anthropic.Anthropic,
    status: int,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=status, retry_after=7))

    with pytest.raises(exception) as raised:
        claude.messages.create(model=MODEL, max_tokens=5, messages=HI)

    assert raised.value.status_code == status
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["error"]["type"] == error_type
    assert raised.value.response.headers.get("retry-after") == ("7" if status == 429 else None)
    assert raised.value.request_id == raised.value.body["request_id"] == provider.requests[0].request_id


def test_openai_paths_answer_openai_error_bodies(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="status", status=429))

    response = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": HI})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_reset_closes_without_a_response(provider: FakeProvider, claude: anthropic.Anthropic) -> None:
    provider.scenario.push(Behaviour(kind="reset"))

    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(model=MODEL, max_tokens=5, messages=HI)


def test_cut_stream_breaks_the_sdk_stream_midway(provider: FakeProvider, claude: anthropic.Anthropic) -> None:
    provider.scenario.push(Behaviour(kind="cut_stream", cut_after_events=4))
    seen: list[str] = []

    with (
        pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)),
        claude.messages.stream(model=MODEL, max_tokens=5, messages=HI) as stream,
    ):
        seen.extend(event.type for event in stream)

    assert seen[0] == "message_start"
    assert "message_stop" not in seen


def test_cut_json_body_is_incomplete(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="cut_stream"))

    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": HI})


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_answer_fails_to_decode(
    provider: FakeProvider, claude: anthropic.Anthropic, stream: bool
) -> None:
    provider.scenario.push(Behaviour(kind="malformed_sse"))

    with pytest.raises((ValueError, anthropic.APIResponseValidationError)):
        if stream:
            with claude.messages.stream(model=MODEL, max_tokens=5, messages=HI) as events:
                list(events)
        else:
            claude.messages.create(model=MODEL, max_tokens=5, messages=HI)


def test_timeout_never_answers(provider: FakeProvider, claude: anthropic.Anthropic) -> None:
    provider.scenario.push(Behaviour(kind="timeout"))

    with pytest.raises(anthropic.APITimeoutError):
        claude.with_options(timeout=0.3).messages.create(model=MODEL, max_tokens=5, messages=HI)


def test_hang_after_headers_sends_200_then_nothing(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="hang_after_headers"))
    body = {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": True}

    with http.stream("POST", "/v1/messages", json=body, timeout=httpx.Timeout(5, read=0.3)) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()


def test_stop_releases_a_hanging_request() -> None:
    provider = FakeProvider().start()
    provider.scenario.set_default(Behaviour(kind="timeout"))
    outcome: list[BaseException] = []

    def call() -> None:
        with anthropic.Anthropic(
            base_url=provider.base_url, api_key="x", max_retries=0, timeout=30
        ) as client:
            try:
                client.messages.create(model=MODEL, max_tokens=5, messages=HI)
            except anthropic.APIError as exc:
                outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    provider.wait_for_requests(1)
    provider.stop(timeout=5)
    caller.join(timeout=5)

    assert not caller.is_alive()
    assert isinstance(outcome[0], anthropic.APIConnectionError)


def test_a_taken_port_fails_start_cleanly(provider: FakeProvider) -> None:
    clash = FakeProvider(port=provider.port)

    with pytest.raises(OSError):
        clash.start()
    clash.stop()
    with pytest.raises(RuntimeError):
        clash.base_url  # noqa: B018 - the property raises when nothing listens


async def test_server_runs_on_the_callers_event_loop() -> None:
    server = FakeProviderServer(Scenario(), RequestLog())
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": HI})
    finally:
        await server.stop()

    assert response.json()["input_tokens"] > 0
    assert [record.path for record in server.log.snapshot()] == ["/v1/messages/count_tokens"]


def test_latency_delays_the_first_byte(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.latency_ms = 150
    started = time.monotonic()

    http.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": HI})

    assert time.monotonic() - started >= 0.15


def test_latency_jitter_spreads_the_first_byte_delay() -> None:
    scenario = Scenario(latency_ms=300, latency_jitter_ms=500)
    delays = [scenario.first_byte_delay_ms(Behaviour()) for _ in range(200)]

    assert all(300 <= delay <= 800 for delay in delays)
    assert max(delays) - min(delays) > 250  # spread out, not one fixed value
    assert scenario.first_byte_delay_ms(Behaviour(latency_ms=5)) == 5  # a behaviour's own latency wins


# -- fidelity: exact bytes in, exact bytes out -----------------------------------------------------------

ODD_BODY = (
    b'{ "messages" :[{"content":"caf\\u00e9 \xe2\x98\x95","role":"user"}],\n'
    b'  "max_tokens": 5, "model":"m-odd",  "future_field": {"x": [1, 2.50]} }'
)
RATE_LIMIT_HEADERS = [
    f"anthropic-ratelimit-{quota}-{field}"
    for quota in ("requests", "tokens")
    for field in ("limit", "remaining", "reset")
]


def test_raw_body_query_and_header_order_are_recorded(provider: FakeProvider, http: httpx.Client) -> None:
    headers = [("X-Dup", "one"), ("content-type", "application/json"), ("x-dup", "two")]

    http.post("/v1/messages?beta=true", content=ODD_BODY, headers=headers)

    (recorded,) = provider.requests
    assert recorded.raw == ODD_BODY and recorded.body_size == len(ODD_BODY)
    assert recorded.query == "beta=true"
    assert recorded.json == json.loads(ODD_BODY)
    ours = [(name, value) for name, value in recorded.header_items if name in {"x-dup", "content-type"}]
    assert ours == [("x-dup", "one"), ("content-type", "application/json"), ("x-dup", "two")]
    assert recorded.headers["x-dup"] == "two"


@pytest.mark.parametrize(
    ("behaviour", "stream"),
    [(Behaviour(), False), (Behaviour(), True), (Behaviour(kind="status", status=529), False)],
    ids=["json", "stream", "error"],
)
def test_the_recorded_answer_is_every_byte_the_client_read(
    provider: FakeProvider, http: httpx.Client, behaviour: Behaviour, stream: bool
) -> None:
    provider.scenario.push(behaviour)
    body = {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": stream}

    with http.stream("POST", "/v1/messages", json=body) as response:
        read = b"".join(response.iter_raw())

    answer = provider.requests[0].response
    assert answer is not None
    assert (answer.status, answer.body) == (response.status_code, read)
    assert answer.sha256 == hashlib.sha256(read).hexdigest()
    assert {name: response.headers.get(name) for name in answer.headers} == answer.headers
    assert (b"event: ping\n" in read) is stream


def test_anthropic_answers_carry_request_id_and_rate_limits(
    provider: FakeProvider, http: httpx.Client
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=429, retry_after=3), path="/v1/messages")
    body = {"model": MODEL, "max_tokens": 5, "messages": HI}

    limited = http.post("/v1/messages", json=body)
    counted = http.post("/v1/messages/count_tokens", json=body)
    answered = http.post("/v1/messages", json=body | {"stream": True})

    ids = [response.headers["request-id"] for response in (limited, counted, answered)]
    assert ids == [record.request_id for record in provider.requests]
    first = int(ids[0].removeprefix("req_fake_"))
    assert ids == [f"req_fake_{first + n}" for n in range(3)]
    assert limited.json()["request_id"] == ids[0] and limited.headers["retry-after"] == "3"
    for response in (limited, counted, answered):
        assert all(response.headers[name] for name in RATE_LIMIT_HEADERS)
    assert limited.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert int(counted.headers["anthropic-ratelimit-requests-remaining"]) > 0


@pytest.mark.parametrize(("status", "retry_after"), [(413, None), (429, "30"), (529, None)])
def test_a_status_body_and_extra_headers_are_sent_verbatim(
    provider: FakeProvider, http: httpx.Client, status: int, retry_after: str | None
) -> None:
    exact = '{"type":"error",  "error":{"type":"x","message":"caf\\u00e9"}}'
    extra = {"Request-Id": "req_custom", "x-extra": "1"} | (
        {"retry-after": retry_after} if retry_after else {}
    )
    provider.scenario.push(Behaviour(kind="status", status=status, body=exact, headers=extra))

    response = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": HI})

    assert (response.status_code, response.content) == (status, exact.encode())
    assert response.headers["request-id"] == "req_custom" and response.headers["x-extra"] == "1"
    assert response.headers.get("retry-after") == retry_after
    assert response.headers["anthropic-ratelimit-tokens-limit"]


@pytest.mark.parametrize("stream", [False, True])
def test_extra_headers_ride_on_ok_answers(provider: FakeProvider, http: httpx.Client, stream: bool) -> None:
    provider.scenario.push(Behaviour(headers={"x-extra": "yes", "cache-control": "private"}))
    body = {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": stream}

    with http.stream("POST", "/v1/messages", json=body) as response:
        response.read()

    assert (response.headers["x-extra"], response.headers["cache-control"]) == ("yes", "private")
    assert response.headers["content-type"].startswith("text/event-stream" if stream else "application/json")


def test_a_cut_stream_records_the_part_that_was_sent(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="cut_stream", cut_after_events=3))
    body = {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": True}
    read = bytearray()

    with pytest.raises(httpx.RemoteProtocolError), http.stream("POST", "/v1/messages", json=body) as response:
        for chunk in response.iter_raw():
            read.extend(chunk)

    answer = provider.requests[0].response
    assert answer is not None and answer.body == bytes(read) and answer.body.count(b"\n\n") == 3


def test_answers_that_send_nothing_record_no_response(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="reset"))

    with pytest.raises(httpx.TransportError):
        http.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": HI})

    assert provider.requests[0].response is None


def test_only_a_status_behaviour_takes_a_body() -> None:
    with pytest.raises(ValidationError):
        Behaviour(kind="ok", body="{}")


def test_raw_bytes_and_answers_survive_the_control_endpoint(
    provider: FakeProvider, http: httpx.Client
) -> None:
    http.post("/v1/messages/count_tokens", content=b"\xff\x00 not json", headers=[("x-a", "1"), ("x-a", "2")])
    http.post("/v1/messages", content=ODD_BODY)

    with FakeProviderClient(provider.base_url) as control:
        remote = control.requests()

    assert remote == provider.requests
    assert remote[0].raw == b"\xff\x00 not json" and remote[0].json is None
    assert remote[1].response is not None and remote[1].response.status == 200


# -- scenario queue --------------------------------------------------------------------------------------


def test_queue_is_consumed_in_order_by_matching_requests(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=529), model="model-a", times=2)
    provider.scenario.push(Behaviour(kind="status", status=429))
    provider.scenario.push(Behaviour(kind="status", status=500), path="/v1/chat/completions")

    def outcome(model: str) -> int:
        try:
            claude.messages.create(model=model, max_tokens=5, messages=HI)
        except anthropic.APIStatusError as exc:
            return exc.status_code
        return 200

    outcomes = [outcome(m) for m in ("model-b", "model-a", "model-b", "model-a", "model-a")]
    assert outcomes == [429, 529, 200, 529, 200]
    pending = [(entry.path, entry.status, entry.times) for entry in provider.scenario.pending()]
    assert pending == [("/v1/chat/completions", 500, 1)]


def test_default_applies_when_the_queue_has_no_match(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.scenario.set_default(Behaviour(kind="status", status=503))
    provider.scenario.push(Behaviour(), model=MODEL)

    claude.messages.create(model=MODEL, max_tokens=5, messages=HI)
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model=MODEL, max_tokens=5, messages=HI)


@pytest.mark.parametrize(
    "usage",
    [
        {"cache_creation_input_tokens": 10, "ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 3},
        {"input_tokens": -1},
    ],
)
def test_inconsistent_usage_is_rejected(usage: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        UsageOverride.model_validate(usage)


# -- control over HTTP -----------------------------------------------------------------------------------


def test_control_endpoints_drive_the_provider(provider: FakeProvider, claude: anthropic.Anthropic) -> None:
    with FakeProviderClient(provider.base_url) as control:
        control.update({"queue": [{"kind": "status", "status": 529, "model": MODEL}], "latency_ms": 1})
        assert provider.scenario.latency_ms == 1
        with pytest.raises(anthropic.OverloadedError):
            claude.messages.create(model=MODEL, max_tokens=5, messages=HI)
        control.push(Behaviour(kind="status", status=400))
        queue = control.scenario()["queue"]
        assert isinstance(queue, list) and [entry["status"] for entry in queue] == [400]

        recorded = control.requests()
        assert [(r.path, r.model) for r in recorded] == [("/v1/messages", MODEL)]
        assert isinstance(recorded[0], RecordedRequest) and recorded[0].json == provider.requests[0].json
        control.clear()
        assert control.requests() == [] == provider.requests
        control.reset()
        assert provider.scenario.pending() == [] and provider.scenario.latency_ms == 0


@pytest.mark.parametrize(
    "update",
    [{"queue": [{"kind": "explode"}]}, {"latency_ms": None}, {"unknown": 1}, {"default": {"status": 99}}],
)
def test_control_endpoint_rejects_malformed_updates(http: httpx.Client, update: dict[str, Any]) -> None:
    response = http.post("/_fake/scenario", json=update)

    assert response.status_code == 400
    assert "error" in response.json()


def test_unknown_routes_are_recorded_and_404(provider: FakeProvider, http: httpx.Client) -> None:
    response = http.post("/v1/complete", json={"model": MODEL})

    assert response.status_code == 404
    assert provider.requests[0].path == "/v1/complete"


def test_recording_keeps_only_the_latest_requests() -> None:
    with FakeProvider(max_recorded=3) as provider, httpx.Client(base_url=provider.base_url) as http:
        for number in range(5):
            http.post("/v1/messages/count_tokens", json={"model": f"m{number}", "messages": HI})

        assert [r.model for r in provider.requests] == ["m2", "m3", "m4"]


# -- credentials -----------------------------------------------------------------------------------------


def test_oauth_refresh_grant(provider: FakeProvider, http: httpx.Client) -> None:
    response = http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "rt-1"})

    token = response.json()
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert token["access_token"] and token["refresh_token"] != "rt-1"
    assert provider.requests[0].form == {"grant_type": "refresh_token", "refresh_token": "rt-1"}


REFRESH = {"grant_type": "refresh_token", "refresh_token": "rt"}


@pytest.mark.parametrize(
    ("form", "queued", "status", "error"),
    [
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, None, 400, "invalid_request"),
        (REFRESH, Behaviour(kind="status", status=400), 400, "invalid_grant"),
        (REFRESH, Behaviour(kind="status", status=503), 503, "temporarily_unavailable"),
    ],
)
def test_oauth_failures(
    provider: FakeProvider,
    http: httpx.Client,
    form: dict[str, str],
    queued: Behaviour | None,
    status: int,
    error: str,
) -> None:
    if queued is not None:
        provider.scenario.push(queued, path="/oauth/token")

    response = http.post("/oauth/token", data=form)

    assert (response.status_code, response.json()["error"]) == (status, error)


def test_unscoped_failures_do_not_hit_the_oauth_endpoint(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.push(Behaviour(kind="status", status=500))

    response = http.post("/oauth/token", data=REFRESH)

    assert response.status_code == 200
    assert len(provider.scenario.pending()) == 1


def test_expected_token_is_required(
    provider: FakeProvider, claude: anthropic.Anthropic, http: httpx.Client
) -> None:
    provider.scenario.expected_token = "secret"
    provider.scenario.push(Behaviour(kind="status", status=500))
    body = {"model": MODEL, "messages": HI}

    with pytest.raises(anthropic.AuthenticationError):
        claude.messages.count_tokens(model=MODEL, messages=HI)
    assert len(provider.scenario.pending()) == 1  # a rejected request does not consume the queue
    provider.scenario.reset()
    provider.scenario.expected_token = "secret"
    by_key = http.post("/v1/messages/count_tokens", json=body, headers={"x-api-key": "secret"})
    bearer = {"authorization": "Bearer secret"}
    by_bearer = http.post("/v1/messages/count_tokens", json=body, headers=bearer)
    assert (by_key.status_code, by_bearer.status_code) == (200, 200)
    provider.scenario.expected_token = None
    assert claude.messages.count_tokens(model=MODEL, messages=HI).input_tokens > 0


def test_tokens_issued_by_oauth_are_accepted(provider: FakeProvider, http: httpx.Client) -> None:
    provider.scenario.expected_token = "secret"
    token = http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "r"}).json()
    body = {"model": MODEL, "messages": HI}

    assert http.post("/v1/messages/count_tokens", json=body).status_code == 401
    authorized = {"authorization": f"Bearer {token['access_token']}"}
    assert http.post("/v1/messages/count_tokens", json=body, headers=authorized).status_code == 200


# -- command line ----------------------------------------------------------------------------------------


def test_cli_serves_in_the_foreground() -> None:
    module = "ccproxy_desktop.testing.fake_provider"
    command = [sys.executable, "-m", module, "--port", "0", "--latency-ms", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
            assert match is not None
            with FakeProviderClient(match.group(0)) as control:
                control.wait_until_ready()
                assert control.scenario()["latency_ms"] == 1
        finally:
            process.terminate()
        assert process.wait(timeout=5) == 0


def test_a_subscription_token_needs_the_oauth_beta(provider: FakeProvider, http: httpx.Client) -> None:
    # As Anthropic does: a Claude subscription (OAuth) token without `oauth-2025-04-20` among the betas is refused,
    # so a proxy that drops or rewrites `anthropic-beta` fails a test the way it would fail a user.
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    token = {"authorization": "Bearer sk-ant-oat01-fake", "anthropic-version": "2023-06-01"}
    refused = http.post("/v1/messages", json=body, headers=token)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "OAuth authentication is currently not supported."

    betas = {**token, "anthropic-beta": "claude-code-20250219, oauth-2025-04-20"}
    assert http.post("/v1/messages", json=body, headers=betas).status_code == 200
    api_key = {"x-api-key": "sk-ant-api03-x", "anthropic-version": "2023-06-01"}  # a key needs no beta
    assert http.post("/v1/messages", json=body, headers=api_key).status_code == 200


# -- scripted replies in every format: several tool calls, reasoning, the output limit ------------------

SCRIPTED_CALLS = [
    {"name": "Read", "arguments": {"file_path": "a.py"}, "id": "call_1"},
    {"name": "Bash", "arguments": {"command": "ls"}, "id": "call_2"},
]


def scripted(provider: FakeProvider, **fields: Any) -> None:
    provider.scenario.push(
        Behaviour.model_validate({"tool_calls": SCRIPTED_CALLS, "thinking": "hmm.", **fields})
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_scripted_thinking_and_tool_calls(
    provider: FakeProvider, claude: anthropic.Anthropic, stream: bool
) -> None:
    scripted(provider, text="Looking.")
    message: anthropic.types.Message
    if stream:
        with claude.messages.stream(model=MODEL, max_tokens=50, messages=HI) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(model=MODEL, max_tokens=50, messages=HI)

    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "hmm." and thinking.signature
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("call_1", "Read", {"file_path": "a.py"}), ("call_2", "Bash", {"command": "ls"})]
    assert message.stop_reason == "tool_use"


def test_max_tokens_stop_in_every_format(provider: FakeProvider, http: httpx.Client) -> None:
    cut = Behaviour(stop_reason="max_tokens")
    provider.scenario.push(cut, times=5)
    anthropic_body = http.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": HI}).json()
    chat = http.post("/v1/chat/completions", json={"model": "gpt-test", "messages": HI}).json()
    responses = http.post("/v1/responses", json={"model": "gpt-test", "input": "hi"}).json()
    gemini = http.post("/v1beta/models/gemini-x:generateContent", json={"contents": GEMINI_HI}).json()
    ollama = http.post("/api/chat", json={"model": "llama", "messages": HI, "stream": False}).json()

    assert anthropic_body["stop_reason"] == "max_tokens"
    assert chat["choices"][0]["finish_reason"] == "length"
    assert (responses["status"], responses["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert gemini["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert ollama["done_reason"] == "length"


def test_chat_completion_scripted_reasoning_and_tool_calls(
    provider: FakeProvider, http: httpx.Client
) -> None:
    scripted(provider, text="")
    events = stream_post(http, "/v1/chat/completions", {"model": "gpt-test", "messages": HI, "stream": True})

    chunks = [ChatCompletionChunk.model_validate(data) for _, data in events[:-1]]
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join(str((delta.model_extra or {}).get("reasoning_content") or "") for delta in deltas)
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas:
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += call.id or ""
            entry["name"] += (call.function.name or "") if call.function else ""
            entry["arguments"] += (call.function.arguments or "") if call.function else ""
    assert reasoning == "hmm."
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_1", "Read", {"file_path": "a.py"}),
        ("call_2", "Bash", {"command": "ls"}),
    ]
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "tool_calls"


def test_responses_scripted_reasoning_and_tool_calls(provider: FakeProvider, http: httpx.Client) -> None:
    scripted(provider, text="")
    parsed = openai_responses.Response.model_validate(
        http.post("/v1/responses", json={"model": "gpt-test", "input": "hi"}).json()
    )

    kinds = [item.type for item in parsed.output]
    assert kinds == ["reasoning", "function_call", "function_call"]
    reasoning = parsed.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "hmm."
    assert reasoning.encrypted_content  # handed back on the next turn
    calls = [
        (item.call_id, item.name, json.loads(item.arguments))
        for item in parsed.output
        if item.type == "function_call"
    ]
    assert calls == [("call_1", "Read", {"file_path": "a.py"}), ("call_2", "Bash", {"command": "ls"})]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/chat/completions",
            {"model": "gpt-5.1", "messages": HI, "max_tokens": 5},
            "Use 'max_completion_tokens' instead",
        ),
        (
            "/v1/responses",
            {"model": "gpt-5.1", "input": "hi", "max_output_tokens": 1},
            "Expected a value >= 16",
        ),
    ],
)
def test_openai_refuses_what_openai_refuses(
    http: httpx.Client, path: str, body: dict[str, Any], message: str
) -> None:
    response = http.post(path, json=body)

    assert response.status_code == 400 and message in response.json()["error"]["message"]
    allowed = (
        {**body, "max_completion_tokens": 5} if "messages" in body else {**body, "max_output_tokens": 16}
    )
    allowed.pop("max_tokens", None)
    assert http.post(path, json=allowed).status_code == 200


# -- Gemini ----------------------------------------------------------------------------------------------

GEMINI_HI = [{"role": "user", "parts": [{"text": "hi"}]}]
GEMINI_TOOLS = [{"functionDeclarations": [{"name": "Read", "parameters": {"type": "object"}}]}]


def test_gemini_generate_content_names_the_model_of_the_path(
    provider: FakeProvider, http: httpx.Client
) -> None:
    body = {"contents": GEMINI_HI, "systemInstruction": {"parts": [{"text": "be brief"}]}}

    answer = http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body).json()

    (candidate,) = answer["candidates"]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"][0]["text"].startswith("reply from gemini-2.5-flash")
    usage = answer["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert answer["modelVersion"] == "gemini-2.5-flash"
    assert provider.requests[-1].model == "gemini-2.5-flash"  # from the path: the body names no model


def test_gemini_stream_sends_thoughts_text_then_the_calls_with_their_signature(
    provider: FakeProvider, http: httpx.Client
) -> None:
    scripted(provider, text="Looking.")
    body = {"contents": GEMINI_HI, "tools": GEMINI_TOOLS}

    with http.stream(
        "POST", "/v1beta/models/gemini-3-pro:streamGenerateContent?alt=sse", json=body
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = [data for _, data in sse_events(response.iter_lines())]

    parts = [part for chunk in chunks for part in chunk["candidates"][0]["content"]["parts"]]
    assert "".join(p["text"] for p in parts if p.get("thought")) == "hmm."
    assert "".join(p["text"] for p in parts if "text" in p and not p.get("thought")) == "Looking."
    calls = [p for p in parts if "functionCall" in p]
    assert [c["functionCall"] for c in calls] == [
        {"name": "Read", "args": {"file_path": "a.py"}},
        {"name": "Bash", "args": {"command": "ls"}},
    ]
    assert calls[0]["thoughtSignature"] and "thoughtSignature" not in calls[1]
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == 1
    assert len({c["responseId"] for c in chunks}) == 1


def test_gemini_3_refuses_a_history_that_lost_its_thought_signature(
    provider: FakeProvider, http: httpx.Client
) -> None:
    scripted(provider)
    first = http.post("/v1beta/models/gemini-3-pro:generateContent", json={"contents": GEMINI_HI}).json()
    model_turn = first["candidates"][0]["content"]
    answer = {"role": "user", "parts": [{"functionResponse": {"name": "Read", "response": {"content": "x"}}}]}

    def ask(model: str, turn: dict[str, Any]) -> httpx.Response:
        return http.post(
            f"/v1beta/models/{model}:generateContent", json={"contents": [*GEMINI_HI, turn, answer]}
        )

    assert ask("gemini-3-pro", model_turn).status_code == 200
    stripped = {
        **model_turn,
        "parts": [{k: v for k, v in p.items() if k != "thoughtSignature"} for p in model_turn["parts"]],
    }
    refused = ask("gemini-3-pro", stripped)
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "missing a thought_signature" in refused.json()["error"]["message"]
    assert ask("gemini-2.5-pro", stripped).status_code == 200  # only Gemini 3 checks
    import base64

    skip = base64.b64encode(b"skip_thought_signature_validator").decode()
    # Google's documented stand-in, and LiteLLM's snake_case spelling of the fields, are accepted.
    snake = {
        "role": "model",
        "parts": [{"function_call": {"name": "Read", "args": {}}, "thought_signature": skip}],
    }
    assert ask("gemini-3-pro", snake).status_code == 200


def test_gemini_count_tokens_errors_and_key(provider: FakeProvider, http: httpx.Client) -> None:
    counted = http.post("/v1beta/models/gemini-x:countTokens", json={"contents": GEMINI_HI}).json()
    assert counted["totalTokens"] > 0
    wrapped = {"generateContentRequest": {"model": "models/gemini-x", "contents": GEMINI_HI}}
    assert http.post("/v1/models/gemini-x:countTokens", json=wrapped).json() == counted

    provider.scenario.push(Behaviour(kind="status", status=429))
    limited = http.post("/v1beta/models/gemini-x:generateContent", json={"contents": GEMINI_HI})
    assert limited.status_code == 429
    assert limited.json()["error"] | {"message": ""} == {
        "code": 429,
        "message": "",
        "status": "RESOURCE_EXHAUSTED",
    }

    provider.scenario.expected_token = "gemini-key"
    path = "/v1beta/models/gemini-x:generateContent"
    assert http.post(path, json={"contents": GEMINI_HI}).status_code == 401
    assert (
        http.post(path, json={"contents": GEMINI_HI}, headers={"x-goog-api-key": "gemini-key"}).status_code
        == 200
    )
    assert http.post(f"{path}?key=gemini-key", json={"contents": GEMINI_HI}).status_code == 200


# -- Ollama ----------------------------------------------------------------------------------------------


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.iter_lines() if line]


def test_ollama_chat_streams_unless_told_not_to(http: httpx.Client) -> None:
    body = {"model": "llama3.1", "messages": HI}

    with http.stream("POST", "/api/chat", json=body) as response:
        lines = ndjson(response)
    whole = http.post("/api/chat", json={**body, "stream": False}).json()

    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    text = "".join(line["message"]["content"] for line in lines)
    assert text == whole["message"]["content"] and text.startswith("reply from llama3.1")
    done = lines[-1]
    assert (done["done_reason"], done["message"]["content"]) == ("stop", "")
    assert done["prompt_eval_count"] > 0 and done["eval_count"] == len(text.split())
    assert whole["done"] is True and whole["prompt_eval_count"] == done["prompt_eval_count"]


def test_ollama_chat_thinking_and_tool_calls(provider: FakeProvider, http: httpx.Client) -> None:
    scripted(provider, text="")
    with http.stream("POST", "/api/chat", json={"model": "qwen3", "messages": HI}) as response:
        lines = ndjson(response)

    assert "".join(line["message"].get("thinking", "") for line in lines) == "hmm."
    (with_calls,) = [line for line in lines if "tool_calls" in line["message"]]
    assert with_calls["message"]["tool_calls"] == [  # arguments are objects, and come whole
        {"function": {"name": "Read", "arguments": {"file_path": "a.py"}}},
        {"function": {"name": "Bash", "arguments": {"command": "ls"}}},
    ]


def test_ollama_generate_tags_show_and_errors(provider: FakeProvider, http: httpx.Client) -> None:
    generated = http.post("/api/generate", json={"model": "llama3.1", "prompt": "hi", "stream": False}).json()
    assert generated["response"].startswith("reply from llama3.1") and generated["done"] is True

    provider.scenario.listed_models = ["llama3.1:latest", "qwen3-coder:30b"]
    tags = http.get("/api/tags").json()
    assert [row["name"] for row in tags["models"]] == ["llama3.1:latest", "qwen3-coder:30b"]
    shown = http.post("/api/show", json={"model": "llama3.1:latest"}).json()
    assert shown["model_info"]["llama.context_length"] > 0 and "tools" in shown["capabilities"]

    provider.scenario.push(Behaviour(kind="status", status=404, message="model 'nope' not found"))
    missing = http.post("/api/chat", json={"model": "nope", "messages": HI})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope' not found"})


# -- model lists -----------------------------------------------------------------------------------------


def test_the_model_list_serves_anthropic_and_openai_clients(
    provider: FakeProvider, http: httpx.Client
) -> None:
    assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["fake-model-a", "fake-model-b"]
    http.post("/_fake/scenario", json={"listed_models": ["claude-x", "gpt-y"]})

    with anthropic.Anthropic(base_url=provider.base_url, api_key="x", max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["claude-x", "gpt-y"]
    listing = http.get("/v1/models").json()
    assert listing["object"] == "list" and all(m["object"] == "model" for m in listing["data"])
    assert [r.path for r in provider.requests] == ["/v1/models", "/v1/models", "/v1/models"]
    provider.scenario.reset()
    assert provider.scenario.listed_models == ("fake-model-a", "fake-model-b")
