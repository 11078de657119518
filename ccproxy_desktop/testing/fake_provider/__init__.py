"""A fake upstream LLM provider for tests, benchmarks and `ccproxy demo`: Anthropic Messages, OpenAI Chat
Completions and Responses, Gemini, Ollama, Bedrock (invoke and Converse, AWS event streams, SigV4 checked) and
Vertex AI (Claude and Gemini, Bearer tokens from its Google token endpoint), and an OAuth token endpoint.

In-process::

    with FakeProvider() as provider:
        provider.scenario.push(Behaviour(kind="status", status=529), model="claude-x", times=2)
        client = anthropic.Anthropic(base_url=provider.base_url, api_key="x")
        ...
        assert provider.requests[-1].json["model"] == "claude-x"

Fidelity checks (is what went through a proxy byte-identical to what the provider saw or sent?) read the log:
each `RecordedRequest` keeps the body as received (`raw`) and every header in order (`header_items`), and
carries the answer the provider sent (`response`: status, the headers it set, every body byte, `sha256`),
attached before the first byte goes out, so it is there as soon as a client has read anything::

    provider.scenario.push(Behaviour(kind="status", status=529, body=exact_json, headers={"x-a": "b"}))
    ...
    (recorded,) = provider.requests
    assert recorded.raw == sent_body_with_the_routed_model
    assert bytes_the_client_read == recorded.response.body

Anthropic-format answers (`/v1/messages`, `/v1/messages/count_tokens`), errors included, carry
`request-id: req_fake_<n>` (n counts requests from 1 per server; `RecordedRequest.request_id`) and
`anthropic-ratelimit-requests-*` / `-tokens-*` headers like the real API's. A Claude subscription's limits
(`anthropic-ratelimit-unified-*`) are sent when asked:
`Behaviour(headers=unified_ratelimit_headers({"5h": 0.62, "7d": 0.3}))`.

In another process: `python -m ccproxy_desktop.testing.fake_provider --port N`, controlled with
`FakeProviderClient(base_url)` or the `/_fake/requests` and `/_fake/scenario` endpoints.
"""

from .anthropic_format import unified_ratelimit_headers
from .client import FakeProviderClient
from .provider import FakeProvider
from .recording import DEFAULT_MAX_RECORDED, RecordedRequest, RecordedResponse, RequestLog
from .scenario import (
    API_PATHS,
    OAUTH_TOKEN_PATH,
    Behaviour,
    BehaviourKind,
    QueuedBehaviour,
    Scenario,
    ScenarioUpdate,
    UsageOverride,
)
from .server import FakeProviderServer

__all__ = [
    "API_PATHS",
    "DEFAULT_MAX_RECORDED",
    "OAUTH_TOKEN_PATH",
    "Behaviour",
    "BehaviourKind",
    "FakeProvider",
    "FakeProviderClient",
    "FakeProviderServer",
    "QueuedBehaviour",
    "RecordedRequest",
    "RecordedResponse",
    "RequestLog",
    "Scenario",
    "ScenarioUpdate",
    "UsageOverride",
    "unified_ratelimit_headers",
]
