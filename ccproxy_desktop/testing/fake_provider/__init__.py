"""A fake upstream LLM provider for tests, benchmarks and `ccproxy demo`: Anthropic Messages, OpenAI Chat
Completions and Responses, and an OAuth token endpoint.

In-process::

    with FakeProvider() as provider:
        provider.scenario.push(Behaviour(kind="status", status=529), model="claude-x", times=2)
        client = anthropic.Anthropic(base_url=provider.base_url, api_key="x")
        ...
        assert provider.requests[-1].json["model"] == "claude-x"

In another process: `python -m ccproxy_desktop.testing.fake_provider --port N`, controlled with
`FakeProviderClient(base_url)` or the `/_fake/requests` and `/_fake/scenario` endpoints.
"""

from .client import FakeProviderClient
from .provider import FakeProvider
from .recording import DEFAULT_MAX_RECORDED, RecordedRequest, RequestLog
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
    "RequestLog",
    "Scenario",
    "ScenarioUpdate",
    "UsageOverride",
]
