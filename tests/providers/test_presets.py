"""The provider presets: every preset the issue names exists, its config.yaml entry routes the way its wire
format says (native path for Anthropic-compatible endpoints), and prices come from LiteLLM's map."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ccproxy_desktop.cli.provider_commands import model_entry
from ccproxy_desktop.config.schema import ModelEntry
from ccproxy_desktop.providers.catalog import PriceMap
from ccproxy_desktop.providers.discovery import discover_models, models_url
from ccproxy_desktop.providers.presets import PRESETS, preset
from ccproxy_desktop.proxy.deployments import Deployments

REQUIRED = [
    "anthropic", "openrouter", "deepseek", "moonshot", "zhipu", "openai",
    "gemini", "groq", "ollama", "lmstudio", "bedrock", "vertex",
]  # fmt: skip


def test_every_required_preset_exists_with_models() -> None:
    assert [p.name for p in PRESETS] == REQUIRED
    for entry in PRESETS:
        assert entry.models, entry.name
        assert entry.api_base or entry.credential in ("aws", "gcp"), entry.name


@pytest.mark.parametrize(
    ("name", "native"),
    [("anthropic", True), ("deepseek", True), ("moonshot", True), ("zhipu", True), ("openrouter", True),
     ("openai", False), ("gemini", False), ("groq", False), ("ollama", False), ("lmstudio", False),
     ("bedrock", False), ("vertex", False)],
)  # fmt: skip
def test_the_config_entry_takes_the_path_of_the_wire_format(name: str, native: bool) -> None:
    entry = preset(name)
    model = entry.models[0].name
    item = model_entry(entry, model, entry.api_base, None)
    deployments = Deployments([ModelEntry.model_validate(item)], environ={})
    assert deployments.is_native(item["model_name"]) is native
    deployment = deployments.pick(item["model_name"])
    assert deployment is not None
    assert deployment.provider_model == model
    if entry.needs_key:
        assert item["litellm_params"]["api_key"] == f"keyring/{name}"
        assert deployment.keyring_credential == name and deployment.api_key is None
    else:
        assert "api_key" not in item["litellm_params"] and deployment.keyring_credential is None


def test_an_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="deepseek"):
        preset("nonesuch")


def test_prices_and_context_windows_come_from_the_price_map(tmp_path: Path) -> None:
    source = tmp_path / "map.json"
    source.write_text(
        json.dumps(
            {
                "deepseek/deepseek-chat": {
                    "max_input_tokens": 131072,
                    "input_cost_per_token": 2.8e-07,
                    "output_cost_per_token": 4.2e-07,
                }
            }
        )
    )
    prices = PriceMap(source)
    facts = prices.facts(preset("deepseek").model("deepseek-chat"))
    assert (facts.context_window, facts.input_per_mtok, facts.output_per_mtok) == (131072, 0.28, 0.42)
    assert facts.from_price_map
    assert "131k context" in facts.describe() and "$0.28/$0.42" in facts.describe()
    unknown = prices.facts(preset("deepseek").model("deepseek-v4-pro"))
    assert not unknown.from_price_map and unknown.context_window == 131_072


def test_litellms_own_price_map_is_read_without_importing_litellm() -> None:
    import sys

    had = "litellm" in sys.modules
    facts = PriceMap().facts(preset("openai").model("gpt-5.1"))
    assert facts.from_price_map and facts.input_per_mtok is not None
    assert ("litellm" in sys.modules) == had


@pytest.mark.parametrize(
    ("name", "base", "url"),
    [
        ("openrouter", "https://openrouter.ai/api", "https://openrouter.ai/api/v1/models"),
        ("ollama", "http://localhost:11434", "http://localhost:11434/api/tags"),
        ("lmstudio", "http://localhost:1234/v1", "http://localhost:1234/v1/models"),
        ("groq", "https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/models"),
        ("deepseek", "https://api.deepseek.com/anthropic", None),
    ],
)
def test_where_models_are_listed(name: str, base: str, url: str | None) -> None:
    assert models_url(preset(name), base) == url


def _serve(status: int, body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


def test_discovery_reads_openai_and_ollama_lists_and_falls_back_on_failure() -> None:
    openai_list = {"data": [{"id": "b-model"}, {"id": "a-model"}]}
    assert discover_models(preset("lmstudio"), "http://x/v1", transport=_serve(200, openai_list)) == [
        "a-model",
        "b-model",
    ]
    tags = {"models": [{"name": "llama3.1:latest"}, {"name": "qwen3-coder:30b"}]}
    assert discover_models(preset("ollama"), "http://x", transport=_serve(200, tags)) == [
        "llama3.1:latest",
        "qwen3-coder:30b",
    ]
    assert discover_models(preset("openai"), "http://x/v1", transport=_serve(401, {"error": "no"})) is None
    assert discover_models(preset("deepseek"), "http://x") is None


def test_discovery_gives_up_quickly_on_an_unreachable_server() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    assert discover_models(preset("ollama"), "http://127.0.0.1:9", timeout=0.5) is None
