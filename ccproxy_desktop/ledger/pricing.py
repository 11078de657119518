"""What a request costs: per-token prices, where they come from, and provider usage read without double counting.

Prices come from the `pricing:` section of ccproxy.yaml (USD per million tokens), from config.yaml's own entries
(LiteLLM's `input_cost_per_token`... fields, or `FREE` for a local server) or from LiteLLM's bundled price map
(`litellm.model_cost`, USD per token), which the proxy adapter passes in: this module imports nothing from
LiteLLM. A model without a known price gets `None`, never a silent $0.

Token accounting follows Anthropic's terms (see `TokenUsage`): `input` excludes cache reads and cache writes, and
cache writes are split by lifetime. Each kind is priced once, at its own price:

| kind              | price when not given explicitly (Anthropic's published multipliers of the input price) |
|-------------------|-----------------------------------------------------------------------------------------|
| cache read        | 0.1 x input                                                                             |
| 5-minute write    | 1.25 x input                                                                            |
| 1-hour write      | 2 x input                                                                               |

Two readers turn provider `usage` objects into `TokenUsage`: `anthropic_usage` (Messages API) and `openai_usage`
(Chat Completions, including LiteLLM's translation of Anthropic responses, whose `prompt_tokens` contain the cache
reads *and* writes). Both were the source of real bugs elsewhere (LiteLLM #9812 and #11935, ccusage #899: cache
writes counted twice, 1-hour writes priced as 5-minute writes); the tests pin them down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ccproxy_desktop.config.schema import PriceSpec
from ccproxy_desktop.ledger.records import TokenUsage

__all__ = [
    "CACHE_READ_MULTIPLIER",
    "CACHE_WRITE_1H_MULTIPLIER",
    "CACHE_WRITE_5M_MULTIPLIER",
    "FREE",
    "Price",
    "PriceBook",
    "anthropic_usage",
    "cost",
    "openai_usage",
    "price_from_litellm_map",
    "price_from_spec",
]

CACHE_READ_MULTIPLIER = 0.1
CACHE_WRITE_5M_MULTIPLIER = 1.25
CACHE_WRITE_1H_MULTIPLIER = 2.0

_PER_MILLION = 1_000_000

# Providers tried, in this order, when a bare model name has no entry of its own in LiteLLM's map
# (first-party APIs before resellers, so `claude-3-5-haiku` resolves to Vertex's price, not Heroku's).
_PREFERRED_PREFIXES = (
    "anthropic",
    "openai",
    "gemini",
    "vertex_ai",
    "azure",
    "bedrock",
    "deepseek",
    "mistral",
    "xai",
    "groq",
)


@dataclass(frozen=True)
class Price:
    """USD per token for each kind of token in `TokenUsage`."""

    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float


FREE = Price(0.0, 0.0, 0.0, 0.0, 0.0)
"""A local server's price (Ollama, LM Studio): exactly $0, not an unknown price."""


def price_from_spec(spec: PriceSpec) -> Price:
    """A `pricing:` entry (USD per million tokens) as per-token prices; missing cache prices follow Anthropic's
    multipliers of the input price (read 0.1x, 5-minute write 1.25x, 1-hour write 2x)."""
    input_price = spec.input / _PER_MILLION

    def given_or(value: float | None, multiplier: float) -> float:
        return value / _PER_MILLION if value is not None else input_price * multiplier

    return Price(
        input=input_price,
        output=spec.output / _PER_MILLION,
        cache_read=given_or(spec.cache_read, CACHE_READ_MULTIPLIER),
        cache_write_5m=given_or(spec.cache_write, CACHE_WRITE_5M_MULTIPLIER),
        cache_write_1h=given_or(spec.cache_write_1h, CACHE_WRITE_1H_MULTIPLIER),
    )


def _number(entry: Mapping[str, object], key: str) -> float | None:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _candidates(model: str) -> Iterator[str]:
    """`model` as given, then without its provider prefix(es), then the bare name under preferred providers."""
    yield model
    parts = model.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[i:])
    bare = parts[-1]
    for prefix in _PREFERRED_PREFIXES:
        yield f"{prefix}/{bare}"


def _is_anthropic(key: str, entry: Mapping[str, object]) -> bool:
    provider = entry.get("litellm_provider")
    return "claude" in key.lower() or (isinstance(provider, str) and "anthropic" in provider)


def price_from_litellm_map(model_cost: Mapping[str, Mapping[str, object]], model: str) -> Price | None:
    """The price of `model` in LiteLLM's price map, or None when the map has no usable entry for it.

    Looked up as given (`anthropic/claude-opus-4-8`), then without provider prefixes (`claude-opus-4-8`), then as
    `<provider>/<name>` for a few first-party providers. Fields used: `input_cost_per_token`,
    `output_cost_per_token`, `cache_read_input_token_cost`, `cache_creation_input_token_cost` (5-minute write) and
    `cache_creation_input_token_cost_above_1hr`. Missing cache prices:
    - Anthropic models (Claude, on any provider): Anthropic's multipliers of the input price.
    - Other models (OpenAI format): cached input is billed at `cache_read_input_token_cost` when the map has it,
      else at the input price; these APIs bill no separate cache writes, so any write tokens cost input price.
    Tiered prices (`..._above_200k_tokens`), batch and priority tiers are not applied.
    """
    for key in _candidates(model):
        entry = model_cost.get(key)
        if entry is None:
            continue
        input_price = _number(entry, "input_cost_per_token")
        if input_price is None:
            continue
        output_price = _number(entry, "output_cost_per_token") or 0.0
        read = _number(entry, "cache_read_input_token_cost")
        write_5m = _number(entry, "cache_creation_input_token_cost")
        write_1h = _number(entry, "cache_creation_input_token_cost_above_1hr")
        if _is_anthropic(key, entry):
            return Price(
                input=input_price,
                output=output_price,
                cache_read=read if read is not None else input_price * CACHE_READ_MULTIPLIER,
                cache_write_5m=write_5m if write_5m is not None else input_price * CACHE_WRITE_5M_MULTIPLIER,
                cache_write_1h=write_1h if write_1h is not None else input_price * CACHE_WRITE_1H_MULTIPLIER,
            )
        write_5m = write_5m if write_5m is not None else input_price
        return Price(
            input=input_price,
            output=output_price,
            cache_read=read if read is not None else input_price,
            cache_write_5m=write_5m,
            cache_write_1h=write_1h if write_1h is not None else write_5m,
        )
    return None


class PriceBook:
    """Prices by model, first found wins: a `pricing:` override for the routed model_name or the provider
    model; the routed model_name's own price in config.yaml (`configured`: its `input_cost_per_token`...,
    or $0 for a local server); `lookup` of the routed model_name's `price_keys` (the price map's names for a
    `provider add` model, e.g. `moonshot/kimi-k2.5` for one the provider serves as `anthropic/kimi-k2.5`);
    `lookup` of the provider model (in the proxy: LiteLLM's price map)."""

    def __init__(
        self,
        overrides: Mapping[str, PriceSpec],
        lookup: Callable[[str], Price | None],
        configured: Mapping[str, Price] | None = None,
        price_keys: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._overrides = {name: price_from_spec(spec) for name, spec in overrides.items()}
        self._lookup = lookup
        self._configured = dict(configured or {})
        self._price_keys = {name: tuple(keys) for name, keys in (price_keys or {}).items()}

    def price_for(self, routed_model: str, provider_model: str) -> Price | None:
        """The price of a request routed to `routed_model` (a model_name of config.yaml) and sent upstream as
        `provider_model` (e.g. `anthropic/claude-opus-4-8`); None when nobody knows it."""
        for name in (routed_model, provider_model, provider_model.rsplit("/", 1)[-1]):
            price = self._overrides.get(name)
            if price is not None:
                return price
        price = self._configured.get(routed_model)
        if price is not None:
            return price
        for key in self._price_keys.get(routed_model, ()):
            price = self._lookup(key)
            if price is not None:
                return price
        return self._lookup(provider_model)


def cost(usage: TokenUsage, price: Price) -> float:
    """USD for `usage` at `price`: each kind of token once, at its own price."""
    return (
        usage.input * price.input
        + usage.output * price.output
        + usage.cache_read * price.cache_read
        + usage.cache_write_5m * price.cache_write_5m
        + usage.cache_write_1h * price.cache_write_1h
    )


def _count(mapping: Mapping[str, object], key: str) -> int:
    """A token count from a provider's JSON: missing, null or malformed counts as 0."""
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(int(value), 0)


def _mapping(mapping: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else None


def _split_writes(total: int, split: Mapping[str, object] | None) -> tuple[int, int]:
    """(5-minute, 1-hour) cache writes. Without a split every write is a 5-minute write; with one the split wins
    (never added on top of `total`), and any remainder the split leaves unexplained counts as 5-minute writes."""
    if split is None or (
        "ephemeral_5m_input_tokens" not in split and "ephemeral_1h_input_tokens" not in split
    ):
        return total, 0
    five = _count(split, "ephemeral_5m_input_tokens")
    hour = _count(split, "ephemeral_1h_input_tokens")
    return five + max(total - five - hour, 0), hour


def anthropic_usage(usage: Mapping[str, object]) -> TokenUsage:
    """`TokenUsage` from an Anthropic Messages API `usage` object (`input_tokens` already excludes the cache)."""
    five, hour = _split_writes(
        _count(usage, "cache_creation_input_tokens"), _mapping(usage, "cache_creation")
    )
    return TokenUsage(
        input=_count(usage, "input_tokens"),
        output=_count(usage, "output_tokens"),
        cache_read=_count(usage, "cache_read_input_tokens"),
        cache_write_5m=five,
        cache_write_1h=hour,
    )


def openai_usage(usage: Mapping[str, object]) -> TokenUsage:
    """`TokenUsage` from a Chat Completions `usage` object, whose `prompt_tokens` include cached tokens.

    Cache reads are `prompt_tokens_details.cached_tokens` (LiteLLM also copies them to top-level
    `cache_read_input_tokens`; both name the same tokens, they are not added). Cache writes appear only in LiteLLM's translation of
    Anthropic responses (`prompt_tokens_details.cache_creation_tokens`/`cache_write_tokens` or top-level
    `cache_creation_input_tokens`, split in `cache_creation_token_details`); they are part of `prompt_tokens` too,
    so `input` is what remains after taking out reads and writes.
    """
    details = _mapping(usage, "prompt_tokens_details") or {}
    read = max(_count(details, "cached_tokens"), _count(usage, "cache_read_input_tokens"))
    writes = max(
        _count(details, "cache_creation_tokens"),
        _count(details, "cache_write_tokens"),
        _count(usage, "cache_creation_input_tokens"),
    )
    five, hour = _split_writes(writes, _mapping(details, "cache_creation_token_details"))
    prompt = _count(usage, "prompt_tokens")
    return TokenUsage(
        input=max(prompt - read - five - hour, 0),
        output=_count(usage, "completion_tokens"),
        cache_read=read,
        cache_write_5m=five,
        cache_write_1h=hour,
    )
