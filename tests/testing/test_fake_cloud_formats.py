"""The fake provider's Bedrock and Vertex AI wire formats and their auth, over real sockets: requests signed
with botocore's own SigV4 signer, event streams read back with botocore's own `EventStreamBuffer` (what
LiteLLM decodes Bedrock streams with), Google's token endpoint asked as google-auth asks it. The whole path
through LiteLLM and the proxy: tests/providers/test_cloud_presets_e2e.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.fake_provider.bedrock_format import (
    decode_event_stream,
    invoke_events,
    sigv4_signature_matches,
)
from ccproxy_desktop.testing.fake_provider.replies import Reply, ToolCall, Usage
from ccproxy_desktop.testing.fake_provider.scenario import GOOGLE_TOKEN_PATH, ScriptedToolCall

KEY_ID, SECRET, REGION = "AKIAFAKEUNITTEST0001", "fake-secret-for-the-unit-tests", "us-west-2"
CLAUDE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
INVOKE_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
VERTEX = "/v1/projects/p/locations/us-east5/publishers"
REPLY = Reply(
    model=CLAUDE,
    text="hello there",
    tool_call=ToolCall("toolu_1", "Read", {"file_path": "a.md"}),
    usage=Usage(10, 5),
    thinking="think first",
)


@pytest.fixture(scope="module")
def running_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(autouse=True)
def provider(running_provider: FakeProvider) -> FakeProvider:
    running_provider.scenario.reset()
    running_provider.clear()
    return running_provider


def _signed(provider: FakeProvider, path: str, body: dict[str, Any], secret: str = SECRET) -> httpx.Response:
    """POST `body` to `path`, signed as botocore signs a bedrock-runtime call."""
    request = AWSRequest(
        method="POST",
        url=provider.base_url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    SigV4Auth(Credentials(KEY_ID, secret), "bedrock", REGION).add_auth(request)
    headers = dict(request.headers.items())
    return httpx.post(request.url, content=request.body, headers=headers, timeout=10)


def _botocore_messages(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_invoke_events_are_aws_event_stream_messages_that_botocore_decodes() -> None:
    frames = invoke_events(REPLY)
    messages = _botocore_messages(b"".join(frames))
    assert len(messages) == len(frames)
    assert all(h == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
               for h, _ in messages)  # fmt: skip
    events = [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for _, payload in messages]
    types = [event["type"] for event in events]
    assert types[0] == "message_start" and types[-1] == "message_stop" and "ping" not in types
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 5
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == [
        "thinking",
        "text",
        "tool_use",
    ]
    assert decode_event_stream(b"".join(frames)) == [(dict(h), p) for h, p in messages]


@pytest.mark.parametrize("where", [6, -2], ids=["prelude", "message"])
def test_a_corrupted_frame_fails_botocores_crc_check(where: int) -> None:
    frame = bytearray(invoke_events(REPLY)[0])
    frame[where] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        _botocore_messages(bytes(frame))


def test_bedrock_refuses_an_unsigned_request_as_aws_does(provider: FakeProvider) -> None:
    answer = httpx.post(f"{provider.base_url}/model/{CLAUDE}/invoke", json=INVOKE_BODY, timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}
    assert answer.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException:")
    garbled = httpx.post(
        f"{provider.base_url}/model/{CLAUDE}/invoke",
        json=INVOKE_BODY,
        headers={"authorization": "AWS4-HMAC-SHA256 nonsense", "x-amz-date": "20260101T000000Z"},
        timeout=10,
    )
    assert garbled.status_code == 403
    assert garbled.headers["x-amzn-errortype"].startswith("IncompleteSignatureException:")


def test_a_signed_invoke_is_answered_and_its_signature_checks_out(provider: FakeProvider) -> None:
    answer = _signed(provider, f"/model/{CLAUDE}/invoke", INVOKE_BODY)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"].startswith(f"reply from {CLAUDE}")
    assert answer.headers["x-amzn-requestid"].startswith("req_fake_")
    (recorded,) = provider.requests
    assert recorded.model == CLAUDE
    assert sigv4_signature_matches(recorded, provider.base_url, KEY_ID, SECRET, REGION)
    assert not sigv4_signature_matches(recorded, provider.base_url, KEY_ID, "wrong", REGION)
    assert not sigv4_signature_matches(recorded, provider.base_url, KEY_ID, SECRET, "eu-west-1")


def test_bedrock_checks_the_access_key_when_the_scenario_expects_one(provider: FakeProvider) -> None:
    provider.scenario.expected_token = "AKIASOMEONEELSE00000"
    answer = _signed(provider, f"/model/{CLAUDE}/invoke", INVOKE_BODY)
    assert answer.status_code == 403
    assert answer.json() == {"message": "The security token included in the request is invalid."}
    assert answer.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": CLAUDE}, "extraneous key [model] is not permitted"),
        ({"stream": True}, "extraneous key [stream] is not permitted"),
        ({"anthropic_version": "2023-06-01"}, "anthropic_version must be 'bedrock-2023-05-31'"),
    ],
)
def test_invoke_refuses_what_bedrock_refuses(
    provider: FakeProvider, change: dict[str, Any], message: str
) -> None:
    answer = _signed(provider, f"/model/{CLAUDE}/invoke", INVOKE_BODY | change)
    assert answer.status_code == 400 and message in answer.json()["message"]
    assert answer.headers["x-amzn-errortype"].startswith("ValidationException:")


def test_invoke_with_response_stream_streams_anthropic_events(provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(text="streamed", tool_calls=[ScriptedToolCall(name="Read")]))
    answer = _signed(provider, f"/model/{CLAUDE}/invoke-with-response-stream", INVOKE_BODY)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.amazon.eventstream"
    events = [
        json.loads(base64.b64decode(json.loads(p)["bytes"])) for _, p in _botocore_messages(answer.content)
    ]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_converse_and_converse_stream_answer_in_the_converse_format(provider: FakeProvider) -> None:
    body = {
        "messages": [{"role": "user", "content": [{"text": "[[tool_use]] read it"}]}],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "Read",
                        "inputSchema": {
                            "json": {"type": "object", "properties": {"path": {"type": "string"}}}
                        },
                    }
                }
            ]
        },
    }
    whole = _signed(provider, f"/model/{CLAUDE}/converse", body).json()
    assert whole["stopReason"] == "tool_use"
    assert whole["output"]["message"]["content"][-1]["toolUse"]["input"] == {"path": "fake"}
    assert whole["usage"]["totalTokens"] == whole["usage"]["inputTokens"] + whole["usage"]["outputTokens"]
    streamed = _signed(provider, f"/model/{CLAUDE}/converse-stream", body)
    events = [(h[":event-type"], json.loads(p)) for h, p in _botocore_messages(streamed.content)]
    names = [name for name, _ in events]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    starts = [e["start"]["toolUse"] for name, e in events if name == "contentBlockStart"]
    assert [start["name"] for start in starts] == ["Read"] and starts[0]["toolUseId"].startswith("toolu_")
    tool_input = "".join(
        e["delta"]["toolUse"]["input"]
        for name, e in events
        if name == "contentBlockDelta" and "toolUse" in e["delta"]
    )
    assert json.loads(tool_input) == {"path": "fake"}
    assert events[-2][1] == {"stopReason": "tool_use"}


def test_converse_stream_through_litellm(provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM's completion(stream=True) (the translated path of an OpenAI-SDK client) asks converse-stream
    and reads the fake's event stream."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    provider.scenario.push(Behaviour(text="from converse stream"))
    chunks = litellm.completion(
        model=f"bedrock/{CLAUDE}",
        api_base=provider.base_url,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_region_name=REGION,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "from converse stream"
    (recorded,) = provider.requests
    assert recorded.path == f"/model/{CLAUDE}/converse-stream"
    assert sigv4_signature_matches(recorded, provider.base_url, KEY_ID, SECRET, REGION)


def _jwt(claims: dict[str, Any], alg: str = "RS256") -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


GOOD_CLAIMS = {
    "iss": "sa@p.iam.gserviceaccount.com",
    "aud": "https://oauth2.googleapis.com/token",
    "scope": "https://www.googleapis.com/auth/cloud-platform",
    "iat": int(time.time()),
    "exp": int(time.time()) + 3600,
}


def _token(provider: FakeProvider, **form: str) -> httpx.Response:
    return httpx.post(provider.base_url + GOOGLE_TOKEN_PATH, data=form, timeout=10)


def test_vertex_wants_a_token_the_token_endpoint_issued(provider: FakeProvider) -> None:
    body = {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
    }
    url = f"{provider.base_url}{VERTEX}/anthropic/models/claude-sonnet-4-5:rawPredict"
    for headers in ({}, {"authorization": "Bearer made-up"}):
        refused = httpx.post(url, json=body, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.json()["error"]["status"] == "UNAUTHENTICATED"
    issued = _token(
        provider, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=_jwt(GOOD_CLAIMS)
    )
    assert issued.status_code == 200 and issued.json()["token_type"] == "Bearer"
    token = issued.json()["access_token"]
    answer = httpx.post(url, json=body, headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"].startswith("reply from claude-sonnet-4-5")
    assert provider.requests[-1].model == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not.a"},
            "invalid_grant",
        ),
        (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _jwt(GOOD_CLAIMS, "HS256"),
            },
            "invalid_grant",
        ),
        (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _jwt(GOOD_CLAIMS | {"exp": 1}),
            },
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ],
)
def test_the_google_token_endpoint_refuses_bad_grants(
    provider: FakeProvider, form: dict[str, str], error: str
) -> None:
    answer = _token(provider, **form)
    assert answer.status_code == 400 and answer.json()["error"] == error


def test_vertex_claude_refuses_a_body_that_names_the_model(provider: FakeProvider) -> None:
    token = _token(provider, grant_type="refresh_token", refresh_token="r").json()["access_token"]
    body = {"anthropic_version": "vertex-2023-10-16", "model": "claude", "max_tokens": 8, "messages": []}
    answer = httpx.post(
        f"{provider.base_url}{VERTEX}/anthropic/models/claude-sonnet-4-5:streamRawPredict",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 400 and "Extra inputs are not permitted" in answer.text


def test_vertex_gemini_speaks_the_gemini_format(provider: FakeProvider) -> None:
    token = _token(provider, grant_type="refresh_token", refresh_token="r").json()["access_token"]
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = f"{VERTEX}/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    with httpx.stream(
        "POST", provider.base_url + path, json=body, headers={"authorization": f"Bearer {token}"}, timeout=10
    ) as answer:
        frames = [line for line in answer.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(frame[6:]) for frame in frames]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks).startswith(
        "reply from gemini-2.5-pro"
    )
    assert provider.requests[-1].model == "gemini-2.5-pro"
