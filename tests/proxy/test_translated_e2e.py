"""The translated path through the real server: a route to an OpenAI-format model answers in Anthropic's
format, LiteLLM is loaded only by the first such request, and its errors reach the client with the status,
type and wording Claude Code acts on (a context-window error as "prompt is too long", a busy provider as 529
overloaded_error)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

MODELS = {"native": ("claude-native", "anthropic"), "gpt": ("gpt-translated", "openai")}
OPENAI_TOO_LONG = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
    "Please reduce the length of the messages."
)


@pytest.fixture(scope="module")
def proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(
        tmp_path_factory.mktemp("translated") / "cfg",
        provider.base_url,
        free_port(),
        models=MODELS,
        ccproxy={"retry_enabled": False, "default_model_passthrough": True},
    )
    with running_proxy(paths) as running:
        yield running


@pytest.fixture
def client(proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=120)


def status(proxy: RunningProxy) -> dict[str, object]:
    reply = httpx.get(f"{proxy.url}/ccproxy/status", headers={"x-api-key": proxy.key}, timeout=10)
    return dict(reply.json())


def test_litellm_is_loaded_by_the_first_translated_request_only(
    proxy: RunningProxy, client: anthropic.Anthropic
) -> None:
    reply = client.messages.create(
        model="native", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].type == "text"
    assert status(proxy)["translated_path_loaded"] is False
    translated = client.messages.create(
        model="gpt", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert translated.type == "message" and "gpt-translated" in translated.content[0].text  # type: ignore[union-attr]
    assert status(proxy)["translated_path_loaded"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_context_window_error_says_prompt_is_too_long(
    client: anthropic.Anthropic, provider: FakeProvider, stream: bool
) -> None:
    provider.scenario.push(
        Behaviour(kind="status", status=400, message=OPENAI_TOO_LONG), model="gpt-translated"
    )
    with pytest.raises(anthropic.BadRequestError) as refused:
        if stream:
            with client.messages.stream(
                model="gpt", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            ) as events:
                events.get_final_message()
        else:
            client.messages.create(model="gpt", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    error = refused.value.body["error"]  # type: ignore[index]
    assert error == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 9000 tokens > 8192 maximum",
    }


@pytest.mark.parametrize("provider_status", [503, 529])
def test_a_busy_provider_is_overloaded(
    client: anthropic.Anthropic, provider: FakeProvider, provider_status: int
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=provider_status), model="gpt-translated")
    with pytest.raises(anthropic.APIStatusError) as failed:
        client.messages.create(model="gpt", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 529
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_a_rate_limit_keeps_its_status(client: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.scenario.push(Behaviour(kind="status", status=429, retry_after=3), model="gpt-translated")
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="gpt", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_openai_sdk_clients_get_openai_answers(proxy: RunningProxy, provider: FakeProvider) -> None:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {proxy.key}"},
        timeout=60,
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert lines[-1] == "data: [DONE]"
    assert '"chat.completion.chunk"' in lines[0]


def test_count_tokens_for_a_translated_route_is_our_estimate(
    proxy: RunningProxy, provider: FakeProvider
) -> None:
    before = len(provider.requests)
    reply = httpx.post(
        f"{proxy.url}/v1/messages/count_tokens",
        json={"model": "gpt", "messages": [{"role": "user", "content": "hello world, how are you?"}]},
        headers={"x-api-key": proxy.key},
        timeout=30,
    )
    assert reply.status_code == 200 and reply.json()["input_tokens"] > 0
    assert len(provider.requests) == before  # answered by the proxy


def test_model_discovery_lists_routes_under_ids_claude_code_keeps(
    proxy: RunningProxy, client: anthropic.Anthropic, provider: FakeProvider
) -> None:
    # Claude Code keeps only ids containing "claude" or "anthropic": routes named otherwise get a prefix
    listed = httpx.get(
        f"{proxy.url}/v1/models?limit=1000", headers={"x-api-key": proxy.key}, timeout=3
    ).json()
    assert {(m["id"], m["display_name"]) for m in listed["data"]} == {
        ("anthropic/native", "native"),
        ("anthropic/gpt", "gpt"),
    }
    # and the prefixed id routes like the route's own name
    reply = client.messages.create(
        model="anthropic/native", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.type == "message" and provider.requests[-1].model == "claude-native"
