"""The native path through the real server is a byte pipe: what Claude Code sends reaches an Anthropic-format
provider unchanged but for `model` (body bytes, query string, headers, minus the proxy's own key), and what
the provider answers reaches the client unchanged (status, headers, body bytes, every SSE event and ping,
errors included). Also the small surface Claude Code probes besides the model API (`HEAD /api/hello`,
`GET /v1/models`), and a 404 Anthropic error for every route we do not serve.

One attempt per request (`retry_enabled: false`, LiteLLM's `num_retries: 0`), so a provider error is the
client's answer as is. No rules or hooks: the model the client names is the config's model_name, which maps
to another provider model, so the one edit the proxy makes to the body is visible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, RecordedRequest, RecordedResponse
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

MODEL = "claude-fidelity"
UPSTREAM_MODEL = "claude-upstream-fidelity"
MODELS = {MODEL: (UPSTREAM_MODEL, "anthropic"), "claude-second": ("claude-second-upstream", "anthropic")}
PROVIDER_KEY = "fake-provider-key"  # what write_fake_config gives every deployment
TIMEOUT_S = 30

# Hop-by-hop headers, and those the proxy rewrites: the provider need not see the client's value of these.
NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "host",
        "content-length",
        "x-api-key",
        "authorization",
    }
)


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("fidelity"),
        provider.base_url,
        free_port(),
        models=MODELS,
        ccproxy={"retry_enabled": False},
        litellm_extra={"litellm_settings": {"drop_params": True, "num_retries": 0}},
    )


@pytest.fixture(scope="module")
def native(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


@pytest.fixture(scope="module")
def http(native: RunningProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=native.url, timeout=TIMEOUT_S, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def claude(native: RunningProxy) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=native.url, api_key=native.key, max_retries=0, timeout=TIMEOUT_S
    ) as client:
        yield client


def claude_code_headers(key: str, credential: str = "x-api-key") -> dict[str, str]:
    """The headers Claude Code sends with a Messages request (plus one no proxy knows about)."""
    presented = {"x-api-key": key} if credential == "x-api-key" else {"authorization": f"Bearer {key}"}
    return {
        **presented,
        "accept": "application/json",
        "content-type": "application/json",
        "user-agent": "claude-cli/2.1.3 (external, cli)",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": (
            "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,"
            "context-management-2025-06-27"
        ),
        "anthropic-dangerous-direct-browser-access": "true",
        "x-app": "cli",
        "x-claude-code-session-id": "0b4f5b8e-9a51-4c55-a2d4-3c4e1f1d2a77",
        "x-stainless-arch": "x64",
        "x-stainless-lang": "js",
        "x-stainless-os": "Linux",
        "x-stainless-package-version": "0.70.0",
        "x-stainless-retry-count": "0",
        "x-stainless-runtime": "node",
        "x-stainless-runtime-version": "v24.3.0",
        "x-stainless-timeout": "600",
        "x-stainless-helper-method": "stream",
        "x-future-thing": 'a value, with "quotes"; and=semicolons',
    }


def odd_body(*, stream: bool | None, model: str = MODEL) -> bytes:
    """A valid Messages body written the way no JSON library would: odd key order and spacing, escaped and
    raw unicode, number spellings, cache_control, a signed thinking block, a `role: "system"` message and
    fields no proxy knows (`context_management`, `output_config`, `x_future`). `stream=None` leaves
    `stream` and `max_tokens` out (a count_tokens body)."""
    opening = "{" if stream is None else f'{{"stream" :{json.dumps(stream)},  "max_tokens":32000,'
    text = (
        opening + '\n  "model" : "' + model + '" ,"system":[{"type":"text","text":"You are Claude Code.",'
        '"cache_control":{"type":"ephemeral","ttl":"1h"}}],\n'
        '"messages":[ {"role":"user","content":[{"type":"text",'
        '"text":"caf\\u00e9 \\ud83d\\ude00 \u2615 \\"quoted\\" back\\\\slash \\/ tab\\t",'
        '"cache_control":{"type":"ephemeral"}}]},\n'
        '  {"role":"assistant","content":[{"type":"thinking","thinking":"Let me look.",'
        '"signature":"EqQBCkYIBxgCKkBs+/Zq9lR0eXBlIjoidGhpbmtpbmcifQ=="},{"type":"text","text":"ok"}]},\n'
        '  {"role":"system","content":"a note from the harness"},\n'
        '  {"role":"user","content":"go on"}],\n'
        '"thinking":{"type":"adaptive"},"context_management":{"edits":[{"type":"clear_thinking_20251015",'
        '"keep":"all"}]},"output_config":{"effort":"high"},\n'
        '"metadata":{"user_id":"user_0123_account__session_0b4f"},"x_future":[1.0e3,-0.0,1E-7,null,true]}\n'
    )
    assert text.count(model) == 1
    json.loads(text)  # valid, however odd
    return text.encode()


def assert_provider_headers(recorded: RecordedResponse, response: httpx.Response) -> None:
    """Every header the provider set reached the client with the same value."""
    missing = {
        name: (value, response.headers.get(name))
        for name, value in recorded.headers.items()
        if response.headers.get(name) != value
    }
    assert not missing, f"provider headers lost or changed (provider value, client value): {missing}"


def only_request(provider: FakeProvider) -> RecordedRequest:
    (recorded,) = provider.requests  # one attempt, nothing else sent upstream
    return recorded


# -- requests: the provider gets what the client sent --------------------------------------------------


@pytest.mark.parametrize("credential", ["x-api-key", "authorization"])
@pytest.mark.parametrize(
    ("path", "stream"),
    [("/v1/messages", False), ("/v1/messages", True), ("/v1/messages/count_tokens", None)],
    ids=["messages json", "messages stream", "count_tokens"],
)
def test_the_provider_gets_the_clients_bytes_but_the_model(
    native: RunningProxy,
    http: httpx.Client,
    provider: FakeProvider,
    path: str,
    stream: bool | None,
    credential: str,
) -> None:
    headers = claude_code_headers(native.key, credential)
    body = odd_body(stream=stream)

    response = http.post(f"{path}?beta=true", content=body, headers=headers)

    assert response.status_code == 200, response.text
    recorded = only_request(provider)
    assert (recorded.path, recorded.query) == (path, "beta=true")
    assert recorded.raw == odd_body(stream=stream, model=UPSTREAM_MODEL)
    sent = {name: value for name, value in response.request.headers.items() if name not in NOT_FORWARDED}
    received = {name: recorded.headers.get(name) for name in sent}
    assert received == sent
    assert recorded.headers.get("x-api-key") == PROVIDER_KEY
    assert "authorization" not in recorded.headers
    assert not [item for item in recorded.header_items if native.key in item[1]], "the proxy key leaked"


# -- answers: the client gets what the provider sent ---------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_success_carries_the_providers_headers_and_bytes(
    native: RunningProxy, http: httpx.Client, provider: FakeProvider, stream: bool
) -> None:
    provider.scenario.push(
        Behaviour(headers={"x-provider-extra": "kept", "anthropic-organization-id": "org"})
    )

    with http.stream(
        "POST",
        "/v1/messages?beta=true",
        content=odd_body(stream=stream),
        headers=claude_code_headers(native.key),
    ) as response:
        read = b"".join(response.iter_raw())

    answer = only_request(provider).response
    assert answer is not None and answer.headers["request-id"].startswith("req_fake_")
    assert response.status_code == answer.status == 200
    assert_provider_headers(answer, response)
    assert read == answer.body


@pytest.mark.parametrize(
    ("prompt", "behaviour"),
    [
        ("hi", Behaviour()),
        ("hi", Behaviour(text=" ".join(f"word{n}" for n in range(40)), chunk_delay_ms=2)),
        ("weather? [[tool_use]]", Behaviour(chunk_delay_ms=2)),  # text, then input_json_delta events
    ],
    ids=["short", "many events, spaced", "tool call"],
)
def test_the_sse_stream_is_byte_identical(
    native: RunningProxy, http: httpx.Client, provider: FakeProvider, prompt: str, behaviour: Behaviour
) -> None:
    provider.scenario.push(behaviour)
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    }

    with http.stream(
        "POST", "/v1/messages?beta=true", json=body, headers=claude_code_headers(native.key)
    ) as r:
        read = b"".join(r.iter_raw())

    answer = only_request(provider).response
    assert answer is not None
    assert b'event: ping\ndata: {"type":"ping"}\n\n' in answer.body
    assert r.headers["content-type"] == answer.headers["content-type"] == "text/event-stream"
    assert read == answer.body, "the stream the client read differs from the one the provider sent"


def test_the_sdk_reads_the_passed_through_stream(claude: anthropic.Anthropic, provider: FakeProvider) -> None:
    with claude.messages.stream(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = stream.get_final_message()
        request_id = stream.response.headers["request-id"]

    assert message.model == UPSTREAM_MODEL  # the provider's answer, untouched
    assert message.content[0].type == "text" and f"reply from {UPSTREAM_MODEL}" in message.content[0].text
    assert request_id == only_request(provider).request_id


# -- provider errors pass through exactly --------------------------------------------------------------

ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "OAuth token does not meet scope requirement user:inference"),
    404: ("not_found_error", f"model: {UPSTREAM_MODEL}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed your organization's rate limit of 30,000 input tokens",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
SDK_ERRORS: dict[int, type[anthropic.APIStatusError]] = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.ContentTooLargeError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    529: anthropic.OverloadedError,
}


def provider_error(status: int) -> tuple[Behaviour, str]:
    """A `status` answer with an exact body (spacing and escapes a re-encoder would change) and headers."""
    error_type, message = ERRORS[status]
    request_id = f"req_011CVfidelity{status}"
    body = (
        f'{{"type":"error", "error":{{"type":"{error_type}","message":{json.dumps(message)}}},'
        f'"request_id":"{request_id}"}}\n'
    )
    headers = {"retry-after": "17", "request-id": request_id, "x-should-retry": "false"}
    return Behaviour(kind="status", status=status, body=body, headers=headers), body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("status", sorted(ERRORS))
def test_a_provider_error_reaches_the_client_exactly(
    native: RunningProxy, http: httpx.Client, provider: FakeProvider, status: int, stream: bool
) -> None:
    behaviour, body = provider_error(status)
    provider.scenario.push(behaviour)

    response = http.post(
        "/v1/messages?beta=true", content=odd_body(stream=stream), headers=claude_code_headers(native.key)
    )

    answer = only_request(provider).response
    assert answer is not None
    assert (response.status_code, response.content) == (status, body.encode())
    assert response.headers["retry-after"] == "17"
    assert response.headers["request-id"] == f"req_011CVfidelity{status}"
    assert_provider_headers(answer, response)


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_the_sdk_sees_the_providers_error(
    claude: anthropic.Anthropic, provider: FakeProvider, status: int
) -> None:
    behaviour, body = provider_error(status)
    provider.scenario.push(behaviour)

    with pytest.raises(SDK_ERRORS[status]) as raised:
        claude.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])

    assert raised.value.status_code == status
    assert raised.value.body == json.loads(body)
    assert raised.value.request_id == f"req_011CVfidelity{status}"


# -- the rest of the surface ---------------------------------------------------------------------------


def test_head_api_hello_answers(http: httpx.Client) -> None:
    assert http.head("/api/hello").status_code == 200


def test_models_lists_the_config_in_anthropics_format(
    native: RunningProxy, http: httpx.Client, claude: anthropic.Anthropic
) -> None:
    headers = {"x-api-key": native.key, "anthropic-version": "2023-06-01"}
    started = time.monotonic()

    response = http.get("/v1/models?limit=1000", headers=headers, timeout=3)

    assert time.monotonic() - started < 3
    assert response.status_code == 200, response.text
    listing = response.json()
    data = listing["data"]
    assert {item["id"] for item in data} == set(MODELS)
    for item in data:
        assert item["type"] == "model"
        assert isinstance(item["display_name"], str) and item["display_name"]
        assert isinstance(item["created_at"], str) and item["created_at"]
    assert listing["has_more"] is False
    assert (listing["first_id"], listing["last_id"]) == (data[0]["id"], data[-1]["id"])
    assert {model.id for model in claude.models.list(limit=1000)} == set(MODELS)


UNSERVED = [
    ("GET", "/public/model_hub"),
    ("GET", "/mcp/"),
    ("POST", "/mcp/"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("POST", "/register"),
    ("POST", "/cursor/chat/completions"),
    ("POST", "/api/event_logging/batch"),
    ("POST", "/key/generate"),
    ("POST", "/user/new"),
    ("GET", "/v1/assistants"),
    ("GET", "/models"),
]


@pytest.mark.parametrize(("method", "path"), UNSERVED, ids=[f"{m} {p}" for m, p in UNSERVED])
def test_a_route_we_do_not_serve_is_a_404_even_with_the_key(
    native: RunningProxy, http: httpx.Client, provider: FakeProvider, method: str, path: str
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]} if method == "POST" else None
    headers = {"x-api-key": native.key, "authorization": f"Bearer {native.key}"}

    response = http.request(method, path, json=body, headers=headers, timeout=10)

    assert response.status_code == 404, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "not_found_error"
    assert isinstance(error["error"]["message"], str)
    assert provider.requests == []
