"""The Anthropic Messages API wire format: request parsing, JSON bodies, SSE event streams, error bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from .replies import (
    BadRequest,
    ParsedRequest,
    Reply,
    ToolSpec,
    Usage,
    estimate_tokens,
    json_chunks,
    last_user_text,
    new_id,
    required_model,
    text_chunks,
)

__all__ = [
    "ERROR_TYPES",
    "count_tokens_body",
    "error_body",
    "error_type_for",
    "message_body",
    "message_events",
    "parse_messages_request",
    "response_headers",
    "sse_frame",
    "unified_ratelimit_headers",
]

PROMPT_FIELDS = ("system", "messages", "tools")

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def parse_messages_request(body: Mapping[str, object]) -> ParsedRequest:
    """Read a `/v1/messages` or `/v1/messages/count_tokens` body; BadRequest if it lacks model/messages."""
    model = required_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: Field required")
    tools = body.get("tools")
    specs = tuple(
        ToolSpec(name=tool["name"], schema=_schema(tool.get("input_schema")))
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str)
    )
    return ParsedRequest(
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(body, PROMPT_FIELDS),
        last_user_text=last_user_text(messages),
        tools=specs,
    )


def _schema(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def usage_body(usage: Usage, *, output_tokens: int) -> dict[str, object]:
    """The `usage` object of a message, with cache-creation totals and the 5m/1h split."""
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.ephemeral_5m_input_tokens,
            "ephemeral_1h_input_tokens": usage.ephemeral_1h_input_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _content_blocks(reply: Reply) -> list[dict[str, object]]:
    blocks: list[dict[str, object]] = []
    if reply.thinking:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": reply.signature})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)})
    return blocks


def _stop_reason(reply: Reply) -> str:
    if reply.max_tokens:
        return "max_tokens"
    return "tool_use" if reply.tool_call is not None else "end_turn"


def message_body(reply: Reply, message_id: str | None = None) -> dict[str, object]:
    """The non-streaming `/v1/messages` response body."""
    return {
        "id": message_id or new_id("msg_fake"),
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": _content_blocks(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": usage_body(reply.usage, output_tokens=reply.usage.output_tokens),
    }


def count_tokens_body(reply: Reply) -> dict[str, object]:
    """The `/v1/messages/count_tokens` response: the reply's input tokens (estimate or override)."""
    return {"input_tokens": reply.usage.input_tokens}


def sse_frame(event: str, data: Mapping[str, object]) -> bytes:
    """One `event:`/`data:` server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _event(data: dict[str, object]) -> bytes:
    return sse_frame(str(data["type"]), data)


def message_events(reply: Reply, message_id: str | None = None) -> list[bytes]:
    """The SSE frames of a streamed `/v1/messages` response, in the order the real API sends them:
    message_start, per block (content_block_start, [ping after the first], deltas, content_block_stop),
    message_delta, message_stop."""
    start_message = message_body(reply, message_id) | {
        "content": [],
        "stop_reason": None,
        "usage": usage_body(reply.usage, output_tokens=min(1, reply.usage.output_tokens)),
    }
    frames = [_event({"type": "message_start", "message": start_message})]
    for index, block in enumerate(_content_blocks(reply)):
        block_start, *block_rest = _block_events(index, block)
        frames.append(block_start)
        if index == 0:  # the real API pings once, right after the first block opens
            frames.append(_event({"type": "ping"}))
        frames.extend(block_rest)
    frames.append(
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": reply.usage.output_tokens},
            }
        )
    )
    frames.append(_event({"type": "message_stop"}))
    return frames


def _block_events(index: int, block: Mapping[str, object]) -> list[bytes]:
    if block["type"] == "text":
        start: dict[str, object] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": chunk} for chunk in text_chunks(str(block["text"]))]
    elif block["type"] == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            *({"type": "thinking_delta", "thinking": chunk} for chunk in text_chunks(str(block["thinking"]))),
            {"type": "signature_delta", "signature": str(block["signature"])},
        ]
    else:
        start = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": chunk}
            for chunk in json_chunks(json.dumps(block["input"]))
        ]
    return [
        _event({"type": "content_block_start", "index": index, "content_block": start}),
        *(_event({"type": "content_block_delta", "index": index, "delta": delta}) for delta in deltas),
        _event({"type": "content_block_stop", "index": index}),
    ]


def error_type_for(status: int) -> str:
    """The Anthropic error type the real API uses for `status` (api_error for unlisted 5xx and others)."""
    return ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(
    status: int, error_type: str | None, message: str | None, request_id: str | None = None
) -> dict[str, object]:
    """`{"type": "error", "error": {...}, "request_id": ...}` for `status`, with the matching error type
    unless one is given; `request_id` should be the answer's `request-id` header (a fresh id if None)."""
    kind = error_type or error_type_for(status)
    return {
        "type": "error",
        "error": {"type": kind, "message": message or f"fake provider: {kind} ({status})"},
        "request_id": request_id or new_id("req_fake"),
    }


RATE_LIMIT_REQUESTS = 4000
RATE_LIMIT_TOKENS = 2_000_000


def response_headers(request_id: str, status: int) -> dict[str, str]:
    """The headers the real API sends with every Messages answer, ok or error: `request-id` and the
    `anthropic-ratelimit-requests-*` / `-tokens-*` quota (all spent on a 429; resets a minute from now)."""
    limited = status == 429
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    return {
        "request-id": request_id,
        "anthropic-ratelimit-requests-limit": str(RATE_LIMIT_REQUESTS),
        "anthropic-ratelimit-requests-remaining": "0" if limited else str(RATE_LIMIT_REQUESTS - 1),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-remaining": "0" if limited else str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-reset": reset,
    }


# The windows of a Claude subscription: length in seconds and the name of its claim.
UNIFIED_WINDOWS: Mapping[str, tuple[int, str]] = {
    "5h": (5 * 3600, "five_hour"),
    "7d": (7 * 86400, "seven_day"),
    "7d_sonnet": (7 * 86400, "seven_day_sonnet"),
    "7d_opus": (7 * 86400, "seven_day_opus"),
}
UNIFIED_WARNING_THRESHOLD = 0.75


def unified_ratelimit_headers(
    used: Mapping[str, float], now: float | None = None, overage_status: str = "rejected"
) -> dict[str, str]:
    """The `anthropic-ratelimit-unified-*` headers Anthropic sends to a Claude subscription (OAuth) request,
    for `used` fractions per window (`{"5h": 0.62, "7d": 0.3}`), for `Behaviour(headers=...)`: per window
    `-utilization`, `-reset` (unix seconds: the window's length after the start of this hour) and `-status`
    (allowed,
    allowed_warning from 0.75 with `-surpassed-threshold`, rejected from 1.0), and the overall `-status`,
    `-reset` and `-representative-claim` of the most used window (see docs/research/subscription-limits.md)."""
    if not used:
        return {}
    now = time.time() if now is None else now
    prefix = "anthropic-ratelimit-unified-"
    headers: dict[str, str] = {}
    resets: dict[str, int] = {}
    for name, fraction in used.items():
        seconds, _ = UNIFIED_WINDOWS.get(name, (7 * 86400, name))
        resets[name] = int(now // 3600 * 3600 + seconds)  # a window opened this hour
        status = "rejected" if fraction >= 1 else "allowed"
        if 1 > fraction >= UNIFIED_WARNING_THRESHOLD:
            status = "allowed_warning"
            headers[f"{prefix}{name}-surpassed-threshold"] = str(UNIFIED_WARNING_THRESHOLD)
        headers[f"{prefix}{name}-utilization"] = f"{fraction:g}"
        headers[f"{prefix}{name}-reset"] = str(resets[name])
        headers[f"{prefix}{name}-status"] = status
    worst = max(used, key=lambda name: used[name])
    headers[f"{prefix}status"] = headers[f"{prefix}{worst}-status"]
    headers[f"{prefix}reset"] = str(resets[worst])
    headers[f"{prefix}representative-claim"] = UNIFIED_WINDOWS.get(worst, (0, worst))[1]
    headers[f"{prefix}overage-status"] = overage_status
    headers[f"{prefix}fallback-percentage"] = "0.5"
    return headers
