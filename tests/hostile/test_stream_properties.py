"""SSE and usage handling on hostile input.

The fake provider (behind `ccproxy demo`, the tests and the benchmarks) parses whatever LiteLLM forwards and
streams its answer as SSE: any JSON body gives a 400 with the API's error body or a stream whose frames are
well-formed SSE with JSON data that adds up to the reply. `usage_from_litellm` reads the usage of any
response object LiteLLM hands the ledger without failing or counting negative tokens.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from ccproxy_desktop.proxy.usage import usage_from_litellm
from ccproxy_desktop.testing.fake_provider.endpoints import endpoints
from ccproxy_desktop.testing.fake_provider.recording import RecordedRequest
from ccproxy_desktop.testing.fake_provider.replies import BadRequest, make_reply
from ccproxy_desktop.testing.fake_provider.scenario import Behaviour, Scenario
from ccproxy_desktop.testing.strategies import anthropic_requests, json_values, openai_requests

MODEL_PATHS = [
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/responses/input_tokens",
]
ENDPOINTS = endpoints(Scenario())


def parse_sse(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) of each frame; `[DONE]` stays a string. Fails on anything not SSE."""
    assert raw.endswith(b"\n\n"), raw[-50:]
    events: list[tuple[str | None, Any]] = []
    for frame in raw.decode("utf-8").split("\n\n")[:-1]:
        name, data = None, []
        for line in frame.split("\n"):
            field, sep, value = line.partition(": ")
            assert sep and field in ("event", "data"), line
            if field == "event":
                name = value
            else:
                data.append(value)
        text = "\n".join(data)
        events.append((name, text if text == "[DONE]" else json.loads(text)))
    return events


def _record(path: str, body: Any) -> RecordedRequest:
    return RecordedRequest("POST", path, "", {"content-type": "application/json"}, body, None, 0, 0.0)


def _streamed_text(path: str, events: list[tuple[str | None, Any]]) -> str:
    if path == "/v1/messages":
        for name, data in events:
            assert name == data["type"]
        return "".join(
            d["delta"]["text"]
            for _, d in events
            if d["type"] == "content_block_delta" and "text" in d["delta"]
        )
    if path == "/v1/chat/completions":
        assert events[-1] == (None, "[DONE]")
        return "".join(
            c["delta"].get("content") or "" for _, d in events[:-1] for c in d["choices"] if "delta" in c
        )
    return "".join(d["delta"] for _, d in events if d["type"] == "response.output_text.delta")


@given(
    path=st.sampled_from(MODEL_PATHS),
    body=anthropic_requests() | openai_requests() | json_values,
    text=st.none() | st.text(max_size=80),
    stream=st.booleans(),
)
@example(path="/v1/messages", body={"model": "m", "messages": []}, text="a\n\ndata: [DONE]\n\nb", stream=True)
@example(
    path="/v1/chat/completions",
    body={"model": "m\n\nevent: x", "messages": [{"role": "user", "content": "[[tool_use]]"}], "tools": [5]},
    text="",
    stream=True,
)
def test_any_body_gets_an_error_body_or_a_well_formed_stream(
    path: str, body: Any, text: str | None, stream: bool
) -> None:
    if isinstance(body, dict) and stream:
        body = {**body, "stream": True}
    endpoint = ENDPOINTS[path]
    rendered = endpoint.render_ok(_record(path, body), Behaviour(text=text))
    raw = b"".join(rendered.frames)
    if rendered.status != 200:
        assert rendered.status == 400 and not rendered.streaming
        assert isinstance(json.loads(raw)["error"]["message"], str)
        return
    if not rendered.streaming:
        assert isinstance(json.loads(raw), dict)
        return
    events = parse_sse(raw)
    parsed = endpoint.parse(body, path)
    reply = make_reply(parsed, Behaviour(text=text))
    assert _streamed_text(path, events) == reply.text


@given(body=json_values)
def test_request_parsers_raise_only_bad_request(body: Any) -> None:
    for path in MODEL_PATHS:
        if not isinstance(body, dict):
            continue
        try:
            parsed = ENDPOINTS[path].parse(body, path)
        except BadRequest as exc:
            assert str(exc)
            continue
        assert parsed.model == body["model"]


_usage_fields = st.sampled_from(
    [
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "prompt_tokens_details",
        "cache_creation",
        "cached_tokens",
        "ephemeral_1h_input_tokens",
        "ephemeral_5m_input_tokens",
        "cache_creation_token_details",
    ]
)
_usage_values = st.recursive(
    json_values, lambda children: st.dictionaries(_usage_fields, children, max_size=6), max_leaves=15
)


@given(
    response=st.dictionaries(st.just("usage") | st.text(max_size=5), _usage_values, max_size=3) | json_values
)
@example(response={"usage": {"prompt_tokens": 5, "cache_read_input_tokens": 10**30}})
@example(response={"usage": {"prompt_tokens": True, "input_tokens": -3, "output_tokens": 2.5}})
def test_usage_of_any_response_is_non_negative_integers(response: Any) -> None:
    usage = usage_from_litellm(response)
    for value in (usage.input, usage.output, usage.cache_read, usage.cache_write_5m, usage.cache_write_1h):
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
