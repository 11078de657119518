"""Other providers' Anthropic-compatible endpoints (Moonshot, Zhipu, DeepSeek...) through the real proxy, as
`ccproxy provider add` writes them (`api_key: keyring/NAME`): the key goes in the header each provider's
Claude Code guide uses (`Authorization: Bearer` or `x-api-key`) and the client's own credentials never go
along; count_tokens gets an answer even from an endpoint that doesn't implement it; and the ledger prices
these routes, and local servers (Ollama, LM Studio) at exactly $0."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import anthropic
import httpx
import pytest
import yaml
from anthropic.types import MessageParam

from ccproxy_desktop.cli.provider_commands import model_entry
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.pipeline.tokens import TokenCounter
from ccproxy_desktop.providers.presets import preset
from ccproxy_desktop.proxy.accounting import bundled_price_map
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, UsageOverride
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

KEYS = {name: f"sk-{name}-own-key-do-not-leak" for name in ("moonshot", "zhipu", "deepseek")}
CLAUDE_KEY = "sk-ant-api03-the-users-own-claude-key"
# A Moonshot model LiteLLM's price map doesn't know, priced in config.yaml (LiteLLM's own fields).
UNLISTED = "kimi-k2-0905-preview"
UNLISTED_PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}
HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
USAGE = UsageOverride(input_tokens=1000, output_tokens=500)


def added(name: str, model: str, api_base: str) -> dict[str, Any]:
    """The config.yaml entry `ccproxy provider add NAME --api-base URL --model MODEL` writes."""
    entry = preset(name)
    return model_entry(entry, model, api_base, None)


@pytest.fixture(scope="module")
def proxy3p(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    config_dir = tmp_path_factory.mktemp("third-party")
    sources = {}
    for name, key in KEYS.items():  # what `keyring/NAME` resolves to (a token file instead of the keyring)
        (config_dir / f"{name}.key").write_text(key + "\n")
        sources[name] = {"file": str(config_dir / f"{name}.key")}
    paths = write_fake_config(
        config_dir,
        provider.base_url,
        free_port(),
        ccproxy={
            "hooks": [
                "rule_evaluator",
                "model_router",
                "forward_oauth",
                "forward_apikey",
                "add_beta_headers",
            ],
            "default_model_passthrough": True,
            "oat_sources": sources,
        },
    )
    url = provider.base_url
    unlisted = added("moonshot", UNLISTED, url)
    unlisted["model_info"].update(UNLISTED_PRICE)
    # Moonshot as a hand-written entry would be without the setting: its key goes as x-api-key.
    plain = added("moonshot", "kimi-k2.5", url)
    plain["model_name"] = "moonshot-plain"
    del plain["model_info"]
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    config["model_list"] += [
        added("moonshot", "kimi-k2.5", url),
        added("zhipu", "glm-4.6", url),
        added("deepseek", "deepseek-chat", url),
        added("ollama", "qwen3-coder", url),
        added("lmstudio", "qwen/qwen3-coder-30b", f"{url}/v1"),
        unlisted,
        plain,
    ]
    paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    with running_proxy(paths) as running:
        yield running


def claude_code(proxy: RunningProxy) -> anthropic.Anthropic:
    """A client like Claude Code with both credentials set: the proxy key as Bearer (ANTHROPIC_AUTH_TOKEN)
    and the user's own Claude key as x-api-key."""
    return anthropic.Anthropic(
        base_url=proxy.url,
        auth_token=proxy.key,
        default_headers={"x-api-key": CLAUDE_KEY},
        max_retries=0,
        timeout=60,
    )


def credential_headers(provider: FakeProvider) -> list[tuple[str, str]]:
    (received,) = provider.wait_for_requests(1)
    return [(k, v) for k, v in received.header_items if k in ("x-api-key", "authorization")]


# -- the key's header -------------------------------------------------------------------------------------


def test_provider_add_writes_the_bearer_style_for_moonshot_zhipu_and_openrouter() -> None:
    for name in ("moonshot", "zhipu", "openrouter", "deepseek", "anthropic", "ollama", "openai"):
        entry = preset(name)
        info = model_entry(entry, entry.models[0].name, entry.api_base, None)["model_info"]
        bearer = name in ("moonshot", "zhipu", "openrouter")
        assert info.get("ccproxy_auth_header") == ("bearer" if bearer else None), name


@pytest.mark.parametrize("name", ["moonshot/kimi-k2.5", "zhipu/glm-4.6"])
def test_a_bearer_provider_gets_its_key_as_authorization_bearer_and_nothing_else(
    proxy3p: RunningProxy, provider: FakeProvider, name: str
) -> None:
    key = KEYS[name.split("/")[0]]
    provider.scenario.accepted_auth = "bearer"  # refuses any x-api-key, reads only the Bearer token
    provider.scenario.expected_token = key
    message = claude_code(proxy3p).messages.create(model=name, max_tokens=20, messages=HI)
    assert message.content
    assert credential_headers(provider) == [("authorization", f"Bearer {key}")]
    received = provider.requests[0]
    assert isinstance(received.json, dict) and received.json["model"] == name.split("/")[1]
    assert CLAUDE_KEY not in str(received.header_items) and proxy3p.key not in str(received.header_items)


def test_an_x_api_key_provider_gets_its_key_as_x_api_key(
    proxy3p: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.accepted_auth = "x-api-key"
    provider.scenario.expected_token = KEYS["deepseek"]
    claude_code(proxy3p).messages.create(model="deepseek/deepseek-chat", max_tokens=20, messages=HI)
    assert credential_headers(provider) == [("x-api-key", KEYS["deepseek"])]


def test_a_bearer_only_provider_refuses_the_key_as_x_api_key(
    proxy3p: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.accepted_auth = "bearer"
    provider.scenario.expected_token = KEYS["moonshot"]
    with pytest.raises(anthropic.AuthenticationError):
        claude_code(proxy3p).messages.create(model="moonshot-plain", max_tokens=20, messages=HI)
    assert credential_headers(provider) == [("x-api-key", KEYS["moonshot"])]
    direct = httpx.post(
        f"{provider.base_url}/v1/messages",
        json={"model": "m", "max_tokens": 5, "messages": HI},
        headers={"x-api-key": KEYS["moonshot"], "authorization": f"Bearer {KEYS['moonshot']}"},
    )
    assert direct.status_code == 401


# -- count_tokens ---------------------------------------------------------------------------------------


def test_count_tokens_is_counted_locally_when_the_endpoint_has_none(
    proxy3p: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.count_tokens = False
    system = "You are a coding assistant."
    messages: list[MessageParam] = [{"role": "user", "content": "Count the tokens of this sentence, please."}]
    counted = claude_code(proxy3p).messages.with_raw_response.count_tokens(
        model="moonshot/kimi-k2.5", system=system, messages=messages
    )
    assert counted.status_code == 200
    assert counted.json() == {"input_tokens": TokenCounter().count_request(system, None, messages)}
    assert counted.parse().input_tokens > 0
    (received,) = provider.wait_for_requests(1)
    assert received.path == "/v1/messages/count_tokens" and received.response is not None
    assert received.response.status == 404  # asked first: the provider said it has no such route


def test_count_tokens_passes_through_when_the_endpoint_has_it(
    proxy3p: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.push(
        Behaviour(usage=UsageOverride(input_tokens=4321)), path="/v1/messages/count_tokens"
    )
    counted = claude_code(proxy3p).messages.with_raw_response.count_tokens(model="zhipu/glm-4.6", messages=HI)
    (received,) = provider.wait_for_requests(1)
    assert received.response is not None
    assert counted.http_response.content == received.response.body
    assert counted.parse().input_tokens == 4321


# -- prices -----------------------------------------------------------------------------------------------


def ledger_costs(paths: ConfigPaths, model: str) -> list[float | None]:
    with closing(sqlite3.connect(paths.ledger_db)) as conn:
        sql = "SELECT cost_usd FROM requests WHERE routed_model = ? AND outcome = 'ok' ORDER BY id"
        return [row[0] for row in conn.execute(sql, (model,))]


def map_cost(key: str) -> float:
    entry = bundled_price_map()[key]
    return 1000 * float(entry["input_cost_per_token"]) + 500 * float(entry["output_cost_per_token"])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("moonshot/kimi-k2.5", lambda: map_cost("moonshot/kimi-k2.5")),
        ("zhipu/glm-4.6", lambda: map_cost("zai/glm-4.6")),
        (f"moonshot/{UNLISTED}", lambda: 1000 * 1e-6 + 500 * 4e-6),
        ("ollama/qwen3-coder", lambda: 0.0),
        ("lmstudio/qwen/qwen3-coder-30b", lambda: 0.0),
    ],
)
def test_the_ledger_prices_third_party_and_local_routes(
    proxy3p: RunningProxy, provider: FakeProvider, model: str, expected: Any
) -> None:
    provider.scenario.set_default(Behaviour(usage=USAGE))
    before = len(ledger_costs(proxy3p.paths, model))
    client = anthropic.Anthropic(base_url=proxy3p.url, api_key=proxy3p.key, max_retries=0, timeout=60)
    client.messages.create(model=model, max_tokens=20, messages=HI)
    wait_for(lambda: len(ledger_costs(proxy3p.paths, model)) == before + 1)
    cost = ledger_costs(proxy3p.paths, model)[-1]
    assert cost is not None, f"{model}: the ledger has no price"
    assert cost == pytest.approx(expected(), abs=1e-12)
