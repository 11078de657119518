"""Prices from config and LiteLLM's map, usage read from provider responses, and what a request costs."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from ccproxy_desktop.config.schema import PriceSpec
from ccproxy_desktop.ledger.pricing import (
    FREE,
    Price,
    PriceBook,
    anthropic_usage,
    cost,
    openai_usage,
    price_from_litellm_map,
    price_from_spec,
)
from ccproxy_desktop.ledger.records import TokenUsage


def _litellm_price_map() -> dict[str, dict[str, object]]:
    """LiteLLM's bundled price map, read from the installed package's file without importing LiteLLM."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


MODEL_COST = _litellm_price_map()
M = 1e-6  # one dollar per million tokens, per token

OPUS = Price(input=5 * M, output=25 * M, cache_read=0.5 * M, cache_write_5m=6.25 * M, cache_write_1h=10 * M)
GPT_4O = Price(
    input=2.5 * M, output=10 * M, cache_read=1.25 * M, cache_write_5m=2.5 * M, cache_write_1h=2.5 * M
)


def assert_price(actual: Price | None, expected: Price) -> None:
    assert actual is not None
    for kind in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h"):
        assert getattr(actual, kind) == pytest.approx(getattr(expected, kind), rel=1e-12), kind


# --- price_from_spec -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            PriceSpec(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, cache_write_1h=6.0),
            Price(3 * M, 15 * M, 0.3 * M, 3.75 * M, 6 * M),
            id="all given",
        ),
        pytest.param(
            PriceSpec(input=3.0, output=15.0),
            Price(3 * M, 15 * M, 0.3 * M, 3.75 * M, 6 * M),
            id="cache prices from Anthropic's multipliers",
        ),
        pytest.param(
            PriceSpec(input=10.0, output=30.0, cache_write=11.0),
            Price(10 * M, 30 * M, 1 * M, 11 * M, 20 * M),
            id="1h write is 2x input, not 2x the given 5m write",
        ),
        pytest.param(
            PriceSpec(input=1.0, output=2.0, cache_read=0.0),
            Price(1 * M, 2 * M, 0.0, 1.25 * M, 2 * M),
            id="explicit zero is kept",
        ),
    ],
)
def test_price_from_spec(spec: PriceSpec, expected: Price) -> None:
    assert_price(price_from_spec(spec), expected)


# --- price_from_litellm_map ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        pytest.param("claude-opus-4-8", OPUS, id="bare name"),
        pytest.param("anthropic/claude-opus-4-8", OPUS, id="provider prefix stripped"),
        pytest.param("openrouter/anthropic/claude-opus-4-8", OPUS, id="nested prefixes stripped"),
        pytest.param(
            "claude-sonnet-4-5",
            Price(3 * M, 15 * M, 0.3 * M, 3.75 * M, 6 * M),
            id="sonnet 4.5: 1h write from cache_creation_input_token_cost_above_1hr",
        ),
        pytest.param("gpt-4o", GPT_4O, id="openai: cached input at cache_read_input_token_cost"),
        pytest.param("openai/gpt-4o", GPT_4O, id="openai prefix stripped"),
        pytest.param(
            "claude-3-5-haiku",
            Price(1 * M, 5 * M, 0.1 * M, 1.25 * M, 2 * M),
            id="bare name found as vertex_ai/..., whose entry has no cache fields: multipliers",
        ),
    ],
)
def test_price_from_litellm_map(model: str, expected: Price) -> None:
    assert_price(price_from_litellm_map(MODEL_COST, model), expected)


@pytest.mark.parametrize(
    "model", ["no-such-model", "anthropic/claude-nonexistent-9", "", "openai/"], ids=lambda m: m or "empty"
)
def test_unknown_model_has_no_price(model: str) -> None:
    assert price_from_litellm_map(MODEL_COST, model) is None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {"litellm_provider": "anthropic", "input_cost_per_token": 4 * M, "output_cost_per_token": 20 * M},
            Price(4 * M, 20 * M, 0.4 * M, 5 * M, 8 * M),
            id="anthropic without cache fields: multipliers",
        ),
        pytest.param(
            {
                "litellm_provider": "anthropic",
                "input_cost_per_token": 4 * M,
                "output_cost_per_token": 20 * M,
                "cache_read_input_token_cost": 0.5 * M,
                "cache_creation_input_token_cost": 5.5 * M,
            },
            Price(4 * M, 20 * M, 0.5 * M, 5.5 * M, 8 * M),
            id="anthropic without 1h field: 2x input",
        ),
        pytest.param(
            {"litellm_provider": "openai", "input_cost_per_token": 2 * M, "output_cost_per_token": 8 * M},
            Price(2 * M, 8 * M, 2 * M, 2 * M, 2 * M),
            id="openai without cache fields: cached input at input price, no write surcharge",
        ),
        pytest.param(
            {"litellm_provider": "openai", "input_cost_per_token": 2, "output_cost_per_token": 8},
            Price(2, 8, 2, 2, 2),
            id="integers in JSON are numbers",
        ),
        pytest.param(
            {"litellm_provider": "openai", "input_cost_per_token": 1 * M},
            Price(1 * M, 0.0, 1 * M, 1 * M, 1 * M),
            id="no output price (embeddings)",
        ),
    ],
)
def test_missing_cache_fields(entry: Mapping[str, object], expected: Price) -> None:
    assert_price(price_from_litellm_map({"m": entry}, "m"), expected)


def test_entry_without_input_price_is_unknown() -> None:
    assert price_from_litellm_map({"m": {"output_cost_per_token": 1 * M}}, "m") is None
    assert price_from_litellm_map({"m": {"input_cost_per_token": "free"}}, "m") is None


# --- PriceBook -------------------------------------------------------------------------------------------------


def map_lookup(model: str) -> Price | None:
    return price_from_litellm_map(MODEL_COST, model)


CHEAP = PriceSpec(input=1.0, output=2.0, cache_read=0.1, cache_write=1.25, cache_write_1h=2.0)
CHEAP_PRICE = price_from_spec(CHEAP)


@pytest.mark.parametrize(
    ("overrides", "routed", "provider_model", "expected"),
    [
        pytest.param({}, "think", "anthropic/claude-opus-4-8", OPUS, id="map price of the provider model"),
        pytest.param(
            {"think": CHEAP}, "think", "anthropic/claude-opus-4-8", CHEAP_PRICE, id="routed override"
        ),
        pytest.param(
            {"anthropic/claude-opus-4-8": CHEAP},
            "think",
            "anthropic/claude-opus-4-8",
            CHEAP_PRICE,
            id="provider model override",
        ),
        pytest.param(
            {"claude-opus-4-8": CHEAP}, "think", "anthropic/claude-opus-4-8", CHEAP_PRICE, id="bare override"
        ),
        pytest.param(
            {"my-local": CHEAP}, "local", "ollama/my-local", CHEAP_PRICE, id="price for unknown model"
        ),
        pytest.param({"other": CHEAP}, "think", "gpt-4o", GPT_4O, id="unrelated override ignored"),
    ],
)
def test_price_book(
    overrides: dict[str, PriceSpec], routed: str, provider_model: str, expected: Price
) -> None:
    assert_price(PriceBook(overrides, map_lookup).price_for(routed, provider_model), expected)


def test_price_book_routed_override_beats_provider_override() -> None:
    book = PriceBook({"think": CHEAP, "claude-opus-4-8": PriceSpec(input=99, output=99)}, map_lookup)
    assert_price(book.price_for("think", "anthropic/claude-opus-4-8"), CHEAP_PRICE)


def test_price_book_unknown_model() -> None:
    assert PriceBook({}, map_lookup).price_for("local", "ollama/unknown-model-x") is None


def test_price_book_config_prices_then_price_keys_then_the_provider_model() -> None:
    book = PriceBook(
        {"think": CHEAP},
        map_lookup,
        configured={"local": FREE, "think": OPUS},
        price_keys={"moonshot/kimi-k2.5": ("nonesuch/x", "moonshot/kimi-k2.5")},
    )
    assert_price(book.price_for("think", "anthropic/x"), CHEAP_PRICE)  # ccproxy.yaml's pricing first
    assert book.price_for("local", "ollama/unknown-model-x") == FREE
    moonshot = price_from_litellm_map(MODEL_COST, "moonshot/kimi-k2.5")
    assert moonshot is not None
    assert_price(book.price_for("moonshot/kimi-k2.5", "anthropic/kimi-k2.5"), moonshot)
    assert book.price_for("moonshot/other", "anthropic/kimi-unknown-x") is None


# --- usage readers and cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            {"input_tokens": 10, "output_tokens": 20},
            TokenUsage(input=10, output=20),
            id="no cache",
        ),
        pytest.param(
            {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 40,
            },
            TokenUsage(input=10, output=20, cache_read=300, cache_write_5m=40),
            id="no split: all writes are 5m",
        ),
        pytest.param(
            {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 100,
                "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 70},
            },
            TokenUsage(input=10, output=20, cache_read=300, cache_write_5m=30, cache_write_1h=70),
            id="split wins, not added on top (writes stay 100, not 200)",
        ),
        pytest.param(
            {
                "input_tokens": 10,
                "cache_creation_input_tokens": 100,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100},
            },
            TokenUsage(input=10, cache_write_1h=100),
            id="1h writes stay 1h (not priced as 5m)",
        ),
        pytest.param(
            {
                "input_tokens": 5,
                "cache_creation_input_tokens": 100,
                "cache_creation": {"ephemeral_1h_input_tokens": 60},
            },
            TokenUsage(input=5, cache_write_5m=40, cache_write_1h=60),
            id="partial split: unexplained remainder is 5m",
        ),
        pytest.param(
            {
                "input_tokens": 5,
                "cache_creation": {"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 3},
            },
            TokenUsage(input=5, cache_write_5m=7, cache_write_1h=3),
            id="split without total",
        ),
        pytest.param(
            {
                "input_tokens": None,
                "output_tokens": 3,
                "cache_creation_input_tokens": None,
                "cache_creation": None,
            },
            TokenUsage(output=3),
            id="explicit nulls",
        ),
        pytest.param({}, TokenUsage(), id="empty"),
    ],
)
def test_anthropic_usage(usage: dict[str, object], expected: TokenUsage) -> None:
    assert anthropic_usage(usage) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            {"prompt_tokens": 100, "completion_tokens": 7}, TokenUsage(input=100, output=7), id="no cache"
        ),
        pytest.param(
            {
                "prompt_tokens": 5000,
                "completion_tokens": 1000,
                "prompt_tokens_details": {"cached_tokens": 3000},
            },
            TokenUsage(input=2000, output=1000, cache_read=3000),
            id="cached tokens are inside prompt_tokens",
        ),
        pytest.param(
            {"prompt_tokens": 50, "prompt_tokens_details": {"cached_tokens": None, "audio_tokens": 0}},
            TokenUsage(input=50),
            id="null cached tokens",
        ),
        pytest.param(
            # LiteLLM's translation of Anthropic usage {input 10, read 300, creation 100 (30 5m / 70 1h)}.
            {
                "prompt_tokens": 410,
                "completion_tokens": 20,
                "cache_read_input_tokens": 300,
                "cache_creation_input_tokens": 100,
                "prompt_tokens_details": {
                    "cached_tokens": 300,
                    "cache_creation_tokens": 100,
                    "cache_write_tokens": 100,
                    "cache_creation_token_details": {
                        "ephemeral_5m_input_tokens": 30,
                        "ephemeral_1h_input_tokens": 70,
                    },
                },
            },
            TokenUsage(input=10, output=20, cache_read=300, cache_write_5m=30, cache_write_1h=70),
            id="litellm-translated anthropic: writes are inside prompt_tokens, counted once",
        ),
        pytest.param(
            {"prompt_tokens": 140, "completion_tokens": 1, "cache_creation_input_tokens": 40},
            TokenUsage(input=100, output=1, cache_write_5m=40),
            id="top-level writes without details",
        ),
        pytest.param({}, TokenUsage(), id="empty"),
    ],
)
def test_openai_usage(usage: dict[str, object], expected: TokenUsage) -> None:
    assert openai_usage(usage) == expected


@pytest.mark.parametrize(
    ("usage", "price", "expected_usd"),
    [
        pytest.param(
            TokenUsage(input=1000, output=2000, cache_read=10_000, cache_write_5m=4000, cache_write_1h=2000),
            OPUS,
            # 1000*5 + 2000*25 + 10000*0.5 + 4000*6.25 + 2000*10 = 5000+50000+5000+25000+20000 = 105000 $/M
            0.105,
            id="anthropic, all five kinds",
        ),
        pytest.param(
            openai_usage(
                {
                    "prompt_tokens": 5000,
                    "completion_tokens": 1000,
                    "prompt_tokens_details": {"cached_tokens": 3000},
                }
            ),
            GPT_4O,
            # 2000*2.5 + 3000*1.25 + 1000*10 = 5000+3750+10000 = 18750 $/M
            0.01875,
            id="openai-format route",
        ),
        pytest.param(
            anthropic_usage(
                {
                    "input_tokens": 10,
                    "output_tokens": 20,
                    "cache_read_input_tokens": 300,
                    "cache_creation_input_tokens": 100,
                    "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 70},
                }
            ),
            OPUS,
            # 10*5 + 20*25 + 300*0.5 + 30*6.25 + 70*10 = 50+500+150+187.5+700 = 1587.5 $/M
            0.0015875,
            id="anthropic usage object with split",
        ),
        pytest.param(TokenUsage(), OPUS, 0.0, id="nothing"),
    ],
)
def test_cost(usage: TokenUsage, price: Price, expected_usd: float) -> None:
    assert cost(usage, price) == pytest.approx(expected_usd, rel=1e-12)


def test_same_request_costs_the_same_through_both_formats() -> None:
    """The double-counting trap: Anthropic's usage and LiteLLM's OpenAI-format translation of it must agree."""
    native = {
        "input_tokens": 12,
        "output_tokens": 345,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    }
    translated = {
        "prompt_tokens": 23_012,
        "completion_tokens": 345,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 3000,
        "prompt_tokens_details": {
            "cached_tokens": 20_000,
            "cache_creation_tokens": 3000,
            "cache_creation_token_details": {
                "ephemeral_5m_input_tokens": 1000,
                "ephemeral_1h_input_tokens": 2000,
            },
        },
    }
    assert anthropic_usage(native) == openai_usage(translated)
    assert cost(anthropic_usage(native), OPUS) == pytest.approx(cost(openai_usage(translated), OPUS))
