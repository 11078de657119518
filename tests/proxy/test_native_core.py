"""The pure parts of the native path: one parse of the body with the place of `model`, the deployment a
model_name resolves to, the headers the provider gets, the side reader of an answer, and the errors the
proxy makes itself."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy_desktop.config.schema import ModelEntry
from ccproxy_desktop.ledger.records import TokenUsage
from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.proxy.deployments import Deployment, Deployments
from ccproxy_desktop.proxy.errors import outcome_for_status, prompt_too_long_message, translate_exception
from ccproxy_desktop.proxy.native import upstream_headers
from ccproxy_desktop.proxy.rawjson import BadBody, parse_body, replace_model
from ccproxy_desktop.proxy.sse_check import MalformedStream
from ccproxy_desktop.proxy.stream_watch import StreamWatch
from ccproxy_desktop.testing.strategies import json_values

# -- rawjson -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m","max_tokens":1}',
        b'  {\n  "max_tokens" : 1 ,\t"model"  :  "m" , "x": {"model": "inner"}}  ',
        b'{"model": "caf\\u00e9", "s": "\\ud83d\\ude00 \xf0\x9f\x98\x80", "n": -0.0, "e": 1.0e3}',
        b'{"a": [1, {"model": "nested"}], "model": "last", "model": "twice"}',
    ],
)
def test_only_the_top_level_model_is_replaced_byte_for_byte(raw: bytes) -> None:
    body = parse_body(raw)
    out = replace_model(body, "routed-model")
    assert json.loads(out)["model"] == "routed-model"
    start, end = body.model_span or (0, 0)
    assert (
        out
        == raw[: len(body.text[:start].encode())] + b'"routed-model"' + raw[len(body.text[:end].encode()) :]
    )
    assert {k: v for k, v in json.loads(out).items() if k != "model"} == {
        k: v for k, v in json.loads(raw).items() if k != "model"
    }


def test_a_body_without_model_gets_one_and_an_unchanged_model_keeps_the_bytes() -> None:
    assert json.loads(replace_model(parse_body(b'{"max_tokens": 1}'), "m")) == {"model": "m", "max_tokens": 1}
    assert json.loads(replace_model(parse_body(b"{}"), "m")) == {"model": "m"}
    raw = b'{"model":"same", "x":1}'
    assert replace_model(parse_body(raw), "same") is raw


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "not valid JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"a": 1', "expected"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": 1} x', "extra data"),
        (b"\xff{}", "not valid JSON"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_bad_bodies_say_why(raw: bytes, words: str) -> None:
    with pytest.raises(BadBody, match=words):
        parse_body(raw)


@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6), model=st.text(max_size=20))
def test_any_object_parses_like_json_loads_and_keeps_its_bytes(value: dict[str, Any], model: str) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    body = parse_body(raw)
    assert body.data == json.loads(raw)
    replaced = json.loads(replace_model(body, model))
    assert replaced == {**json.loads(raw), "model": model}


# -- deployments -------------------------------------------------------------------------------------------


def entries(*items: tuple[str, dict[str, Any]]) -> list[ModelEntry]:
    return [ModelEntry(model_name=name, litellm_params=params) for name, params in items]


def test_anthropic_entries_are_native_and_others_translated() -> None:
    found = Deployments(
        entries(
            ("default", {"model": "anthropic/claude-sonnet-5", "api_base": "http://x:1/v1/"}),
            ("gpt", {"model": "openai/gpt-4o"}),
            (
                "glm",
                {
                    "model": "glm-4.6",
                    "custom_llm_provider": "anthropic",
                    "api_base": "https://z.ai/api/anthropic",
                },
            ),
            ("mixed", {"model": "anthropic/claude-x"}),
            ("mixed", {"model": "openai/gpt-x"}),
        ),
        environ={"ANTHROPIC_API_KEY": "env-key"},
    )
    assert [found.is_native(n) for n in ("default", "gpt", "glm", "mixed", "nope")] == [
        True,
        False,
        True,
        False,
        False,
    ]
    default = found.pick("default")
    assert default == Deployment("default", "anthropic", "claude-sonnet-5", True, "http://x:1", "env-key")
    assert default.url("/v1/messages") == "http://x:1/v1/messages"
    assert default.ledger_model == "anthropic/claude-sonnet-5"
    glm = found.pick("glm")
    assert glm is not None and (glm.provider_model, glm.api_base) == ("glm-4.6", "https://z.ai/api/anthropic")


def test_a_wildcard_entry_serves_the_requested_model_and_keys_come_from_the_environment() -> None:
    found = Deployments(
        entries(("claude-*", {"model": "anthropic/claude-*", "api_key": "os.environ/MY_KEY", "timeout": 5})),
        environ={"MY_KEY": "k1"},
    )
    picked = found.pick("claude-opus-4-8")
    assert picked is not None
    assert (picked.provider_model, picked.api_key, picked.timeout) == ("claude-opus-4-8", "k1", 5.0)
    assert picked.api_base == "https://api.anthropic.com"


# -- headers the provider gets -----------------------------------------------------------------------------

DEPLOYMENT = Deployment("default", "anthropic", "claude-x", True, "http://p", "provider-key")


def names(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in headers}


def test_the_clients_headers_pass_in_order_without_proxy_keys_hop_by_hop_or_ours() -> None:
    client = [
        (b"Host", b"127.0.0.1:4000"),
        (b"X-Api-Key", b"proxy-key"),
        (b"anthropic-version", b"2023-06-01"),
        (b"Connection", b"keep-alive"),
        (b"x-ccproxy-key", b"proxy-key"),
        (b"anthropic-beta", b"a, b"),
        (b"content-length", b"10"),
        (b"x-future", b"1"),
    ]
    ctx = RequestContext("r", "anthropic_messages", "m", upstream_headers={"anthropic-beta": "a,b"})
    out, credential = upstream_headers(client, ctx, DEPLOYMENT, lambda k: k == "proxy-key")
    assert out == [
        (b"anthropic-version", b"2023-06-01"),
        (b"anthropic-beta", b"a, b"),  # the same values as the hook's: the client's bytes
        (b"x-future", b"1"),
        (b"x-api-key", b"provider-key"),
    ]
    assert credential == "provider-key"


def test_hook_decisions_replace_headers_and_a_hook_token_wins() -> None:
    client = [
        (b"authorization", b"Bearer proxy-key"),
        (b"anthropic-beta", b"a"),
        (b"user-agent", b"claude-cli"),
    ]
    ctx = RequestContext(
        "r",
        "anthropic_messages",
        "m",
        upstream_headers={"anthropic-beta": "a,oauth-2025-04-20", "authorization": "Bearer sk-ant-oat-1"},
        upstream_api_key="sk-ant-oat-1",
    )
    out, credential = upstream_headers(client, ctx, DEPLOYMENT, lambda k: k == "proxy-key")
    assert names(out) == {
        b"user-agent": b"claude-cli",
        b"anthropic-beta": b"a,oauth-2025-04-20",
        b"authorization": b"Bearer sk-ant-oat-1",
    }
    assert credential == "sk-ant-oat-1"


@pytest.mark.parametrize("deployment_key", [None, "provider-key"])
def test_a_clients_own_login_goes_to_anthropics_api_untouched(deployment_key: str | None) -> None:
    anthropic = Deployment(
        "default",
        "anthropic",
        "claude-x",
        True,
        "https://api.anthropic.com",
        deployment_key,
        takes_client_credentials=True,
    )
    client = [
        (b"authorization", b"Bearer sk-ant-oat01-own"),
        (b"x-ccproxy-key", b"proxy-key"),
        (b"anthropic-beta", b"oauth-2025-04-20"),
    ]
    out, credential = upstream_headers(
        client, RequestContext("r", "a", "m"), anthropic, lambda k: k == "proxy-key"
    )
    assert out == [(b"authorization", b"Bearer sk-ant-oat01-own"), (b"anthropic-beta", b"oauth-2025-04-20")]
    assert credential is None


def test_a_clients_own_login_never_goes_to_another_provider() -> None:
    other = Deployment("glm", "anthropic", "glm-4.6", True, "https://open.bigmodel.cn/api/anthropic", None)
    client = [(b"authorization", b"Bearer sk-ant-oat01-own"), (b"x-ccproxy-key", b"proxy-key")]
    out, credential = upstream_headers(
        client, RequestContext("r", "a", "m"), other, lambda k: k == "proxy-key"
    )
    assert out == [] and credential is None
    keyed = Deployment(
        "glm", "anthropic", "glm-4.6", True, "https://open.bigmodel.cn/api/anthropic", "glm-key"
    )
    out, credential = upstream_headers(
        client, RequestContext("r", "a", "m"), keyed, lambda k: k == "proxy-key"
    )
    assert out == [(b"x-api-key", b"glm-key")] and credential == "glm-key"


def test_only_anthropics_hosts_take_client_credentials() -> None:
    found = Deployments(
        entries(
            ("default", {"model": "anthropic/claude-sonnet-5"}),
            (
                "glm",
                {
                    "model": "glm-4.6",
                    "custom_llm_provider": "anthropic",
                    "api_base": "https://z.ai/api/anthropic",
                },
            ),
            ("local", {"model": "anthropic/claude-x", "api_base": "http://127.0.0.1:9"}),
        ),
        environ={},
        credential_hosts=("api.anthropic.com", "127.0.0.1"),
    )
    assert [found.pick(n).takes_client_credentials for n in ("default", "glm", "local")] == [
        True,
        False,
        True,
    ]  # type: ignore[union-attr]


def test_a_bearer_deployment_gets_its_key_as_authorization_and_never_the_clients() -> None:
    entry = ModelEntry(
        model_name="moonshot/kimi-k2.5",
        litellm_params={"model": "anthropic/kimi-k2.5", "api_base": "https://api.moonshot.ai/anthropic"},
        model_info={"ccproxy_auth_header": "bearer"},
    )
    deployment = Deployments([entry], environ={}).pick("moonshot/kimi-k2.5")
    assert deployment is not None and deployment.auth_header == "bearer"
    deployment = replace(deployment, api_key="moonshot-key")
    client = [
        (b"authorization", b"Bearer proxy-key"),
        (b"x-api-key", b"sk-ant-api03-own-claude-key"),
        (b"anthropic-version", b"2023-06-01"),
    ]
    ctx = RequestContext("r", "anthropic_messages", "m")
    out, credential = upstream_headers(client, ctx, deployment, lambda k: k == "proxy-key")
    assert out == [(b"anthropic-version", b"2023-06-01"), (b"authorization", b"Bearer moonshot-key")]
    assert credential == "moonshot-key"
    plain = Deployments([entry.model_copy(update={"model_info": {}})], environ={}).pick("moonshot/kimi-k2.5")
    assert plain is not None and plain.auth_header == "x-api-key"


# -- the side reader ---------------------------------------------------------------------------------------

STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":'
    b'{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":7,'
    b'"cache_creation":{"ephemeral_5m_input_tokens":3,"ephemeral_1h_input_tokens":4},"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":42}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_usage_and_the_end_are_read_from_a_stream_in_any_chunks(size: int) -> None:
    watch = StreamWatch()
    for start in range(0, len(STREAM), size):
        watch.feed(STREAM[start : start + size])
    assert watch.completed and watch.error is None and watch.model == "claude-x"
    assert watch.token_usage() == TokenUsage(
        input=10, output=42, cache_read=5, cache_write_5m=3, cache_write_1h=4
    )


def test_garbage_is_caught_in_the_chunk_that_brings_it() -> None:
    watch = StreamWatch()
    watch.feed(STREAM[:40])
    with pytest.raises(MalformedStream):
        watch.feed(b"\n<html>oops</html>\n")


# -- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (
            400,
            b'{"error":{"message":"prompt is too long: 5 tokens > 4 maximum"}}',
            "error:ContextWindowExceededError",
        ),
        (400, b"{}", "error:BadRequestError"),
        (429, b"", "error:RateLimitError"),
        (503, b"", "error:ServiceUnavailableError"),
        (529, b"", "error:OverloadedError"),
        (418, b"", "error:APIError"),
    ],
)
def test_provider_statuses_have_the_ledgers_outcome_names(status: int, body: bytes, outcome: str) -> None:
    assert outcome_for_status(status, body) == outcome


class ContextWindowExceededError(Exception):
    status_code = 400


class RateLimitError(Exception):
    status_code = 429

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.litellm_response_headers = {"retry-after": "7"}


def test_litellm_errors_get_the_wording_claude_code_acts_on() -> None:
    too_long = translate_exception(
        ContextWindowExceededError("This model's maximum context length is 8192"), 9000, 8192
    )
    assert (too_long.status, too_long.error_type) == (400, "invalid_request_error")
    assert too_long.message == "prompt is too long: 9000 tokens > 8192 maximum"
    overloaded = translate_exception(Exception("Overloaded"))
    assert (overloaded.status, overloaded.error_type) == (529, "overloaded_error")
    limited = translate_exception(RateLimitError("slow down"))
    assert (limited.status, limited.headers, limited.outcome) == (
        429,
        {"retry-after": "7"},
        "error:RateLimitError",
    )
    assert prompt_too_long_message("input 1,234 tokens > 1,000 allowed", None, None) == (
        "prompt is too long: 1234 tokens > 1000 maximum"
    )


def test_compressed_answers_are_read_from_a_decoded_copy() -> None:
    import gzip

    from ccproxy_desktop.proxy.stream_watch import JsonWatch

    body = json.dumps({"type": "message", "usage": {"input_tokens": 3, "output_tokens": 4}}).encode()
    packed = gzip.compress(body)
    watch = JsonWatch("gzip")
    for start in range(0, len(packed), 5):
        watch.feed(packed[start : start + 5])
    assert watch.token_usage() == TokenUsage(input=3, output=4)
    stream = StreamWatch(content_encoding="gzip")
    stream.feed(gzip.compress(STREAM))
    assert stream.completed and stream.token_usage().output == 42
    unknown = JsonWatch("br")
    unknown.feed(b"\x00\x01")
    assert unknown.unreadable


def test_the_provider_may_only_use_encodings_the_proxy_reads() -> None:
    client = [(b"accept-encoding", b"gzip, deflate, br, zstd")]
    out, _ = upstream_headers(client, RequestContext("r", "a", "m"), DEPLOYMENT, lambda k: False)
    assert names(out)[b"accept-encoding"] == b"gzip, deflate"
    out, _ = upstream_headers(
        [(b"accept-encoding", b"br")], RequestContext("r", "a", "m"), DEPLOYMENT, lambda k: False
    )
    assert names(out)[b"accept-encoding"] == b"identity"
