"""Reading what LiteLLM reports after a request: token usage (cache writes split by lifetime), timings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..ledger.records import TokenUsage

__all__ = ["timings_ms", "usage_from_litellm"]


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_litellm(response: Any) -> TokenUsage:
    """Token usage of a LiteLLM response (a `ModelResponse`, or an Anthropic-shaped dict).

    LiteLLM reports `prompt_tokens` including cache reads and writes; Anthropic's own usage object reports
    `input_tokens` without them. Cache writes are split into 5-minute and 1-hour writes when the provider
    said so (`cache_creation_token_details` / `cache_creation`), else all counted as 5-minute writes.
    """
    usage = _get(response, "usage")
    if usage is None:
        return TokenUsage()
    details = _get(usage, "prompt_tokens_details")
    cache_read = _int(_get(usage, "cache_read_input_tokens")) or _int(_get(details, "cached_tokens"))
    cache_write = (
        _int(_get(usage, "cache_creation_input_tokens"))
        or _int(_get(details, "cache_creation_tokens"))
        or _int(_get(details, "cache_write_tokens"))
    )
    split = _get(details, "cache_creation_token_details") or _get(usage, "cache_creation")
    write_1h = _int(_get(split, "ephemeral_1h_input_tokens"))
    write_5m = _int(_get(split, "ephemeral_5m_input_tokens"))
    if split is None or write_5m + write_1h == 0:
        write_5m, write_1h = cache_write, 0
    prompt = _get(usage, "prompt_tokens")
    if isinstance(prompt, int):
        input_tokens = max(0, prompt - cache_read - write_5m - write_1h)
    else:
        input_tokens = _int(_get(usage, "input_tokens"))
    output = _int(_get(usage, "completion_tokens")) or _int(_get(usage, "output_tokens"))
    return TokenUsage(input_tokens, output, cache_read, write_5m, write_1h)


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def timings_ms(kwargs: Mapping[str, Any], start: Any, end: Any) -> tuple[float, float | None]:
    """(total latency, time to first byte) in ms from LiteLLM's callback arguments."""
    begin, finish = _seconds(start), _seconds(end)
    first = _seconds(kwargs.get("completion_start_time"))
    if begin is None or finish is None:
        return 0.0, None
    latency = max(0.0, (finish - begin) * 1000)
    ttfb = max(0.0, (first - begin) * 1000) if first is not None else None
    return latency, ttfb
