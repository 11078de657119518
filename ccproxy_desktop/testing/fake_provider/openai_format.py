"""The OpenAI wire formats: Chat Completions and the Responses API (bodies, SSE streams, errors).

Shapes follow the `openai` package types that LiteLLM validates (`ResponsesAPIResponse`, the `response.*`
stream events, `ChatCompletionChunk`). Usage is reported the OpenAI way: input/prompt tokens include cache
reads and writes, which are broken out as `cached_tokens` and `cache_write_tokens`.
"""

from __future__ import annotations

import json
import re
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
    "chat_body",
    "chat_events",
    "error_body",
    "input_tokens_body",
    "parse_chat_request",
    "parse_responses_request",
    "responses_body",
    "responses_events",
]

CHAT_PROMPT_FIELDS = ("messages", "tools")
RESPONSES_PROMPT_FIELDS = ("instructions", "input", "tools")
REASONING_MODELS = re.compile(r"^(gpt-5|o[1-9])")
"""OpenAI's reasoning models: Chat Completions refuses `max_tokens` for them (`max_completion_tokens`)."""
MIN_OUTPUT_TOKENS = 16
"""The Responses API's least `max_output_tokens`."""

_ERRORS: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _tool_specs(tools: object, *, nested: bool) -> tuple[ToolSpec, ...]:
    """Function tools of a request; `nested` for Chat's `{"function": {...}}` shape."""
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if nested and isinstance(tool, Mapping) else tool
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            specs.append(ToolSpec(function["name"], parameters if isinstance(parameters, Mapping) else {}))
    return tuple(specs)


def parse_chat_request(body: Mapping[str, object]) -> ParsedRequest:
    """Read a `/v1/chat/completions` body; raise BadRequest if it lacks model/messages, or sends `max_tokens`
    to a reasoning model (as OpenAI does)."""
    model = required_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: Field required")
    if "max_tokens" in body and REASONING_MODELS.match(model):
        raise BadRequest(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
    stream_options = body.get("stream_options")
    return ParsedRequest(
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(body, CHAT_PROMPT_FIELDS),
        last_user_text=last_user_text(messages),
        tools=_tool_specs(body.get("tools"), nested=True),
        include_usage=isinstance(stream_options, Mapping) and stream_options.get("include_usage") is True,
    )


def parse_responses_request(body: Mapping[str, object]) -> ParsedRequest:
    """Read a `/v1/responses` (or `/v1/responses/input_tokens`) body; raise BadRequest if it lacks model or
    asks for fewer than `MIN_OUTPUT_TOKENS` output tokens."""
    model = required_model(body)
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and limit < MIN_OUTPUT_TOKENS:
        raise BadRequest(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {limit} instead."
        )
    return ParsedRequest(
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_tokens(body, RESPONSES_PROMPT_FIELDS),
        last_user_text=last_user_text(body.get("input")),
        tools=_tool_specs(body.get("tools"), nested=False),
    )


# -- Chat Completions ----------------------------------------------------------------------------------------


def _chat_usage(usage: Usage) -> dict[str, object]:
    return {
        "prompt_tokens": usage.total_input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_input_tokens + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _chat_tool_calls(reply: Reply) -> list[dict[str, object]]:
    return [
        {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
        for call in reply.tool_calls
    ]


def _finish_reason(reply: Reply) -> str:
    if reply.max_tokens:
        return "length"
    return "tool_calls" if reply.tool_call is not None else "stop"


def _reasoning_tokens(reply: Reply) -> int:
    return len(reply.thinking.split())


def chat_body(reply: Reply) -> dict[str, object]:
    """The non-streaming `/v1/chat/completions` response body; the reasoning, when any, in
    `reasoning_content` (DeepSeek's field, which OpenAI-compatible reasoning models use)."""
    message: dict[str, object] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.thinking:
        message["reasoning_content"] = reply.thinking
    if reply.tool_call is not None:
        message["tool_calls"] = _chat_tool_calls(reply)
    return {
        "id": new_id("chatcmpl-fake"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _finish_reason(reply), "logprobs": None}
        ],
        "usage": _chat_usage(reply.usage),
        "system_fingerprint": None,
        "service_tier": "default",  # OpenAI and Groq always say (LiteLLM's Groq adapter needs it)
    }


def chat_events(reply: Reply, *, include_usage: bool) -> list[bytes]:
    """`data:` frames of a streamed chat completion: role, content deltas, tool-call deltas, the finish chunk,
    the usage chunk (only with `stream_options.include_usage`), then `data: [DONE]`."""
    envelope: dict[str, object] = {
        "id": new_id("chatcmpl-fake"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": reply.model,
        "system_fingerprint": None,
        "service_tier": "default",
    }
    if include_usage:
        envelope["usage"] = None

    def chunk(delta: Mapping[str, object], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return _data_frame({**envelope, "choices": [choice]})

    frames = [chunk({"role": "assistant", "content": ""})]
    if reply.thinking:
        frames += [chunk({"reasoning_content": piece}) for piece in text_chunks(reply.thinking)]
    frames += [chunk({"content": piece}) for piece in text_chunks(reply.text) if piece]
    frames += [chunk(delta) for delta in _chat_tool_call_deltas(reply)]
    frames.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        frames.append(_data_frame({**envelope, "choices": [], "usage": _chat_usage(reply.usage)}))
    frames.append(b"data: [DONE]\n\n")
    return frames


def _chat_tool_call_deltas(reply: Reply) -> list[dict[str, object]]:
    """Per tool call (`index` 0, 1, ...): a delta that opens it (id, name), then its arguments in pieces."""
    deltas: list[dict[str, object]] = []
    for index, call in enumerate(reply.tool_calls):
        opening = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        pieces = [
            {"index": index, "function": {"arguments": piece}} for piece in json_chunks(call.arguments_json)
        ]
        deltas += [{"tool_calls": [call_delta]} for call_delta in (opening, *pieces)]
    return deltas


def _data_frame(data: Mapping[str, object]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


# -- Responses API -----------------------------------------------------------------------------------------


def _responses_usage(usage: Usage) -> dict[str, object]:
    return {
        "input_tokens": usage.total_input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_input_tokens + usage.output_tokens,
    }


class _ResponseIds:
    """Identifiers shared by the body and every event of one response."""

    def __init__(self) -> None:
        self.response = new_id("resp_fake")
        self.message = new_id("msg_fake")
        self.function_call = new_id("fc_fake")
        self.reasoning = new_id("rs_fake")
        self.created_at = int(time.time())

    def call(self, index: int) -> str:
        """The item id of the reply's `index`th function call."""
        return self.function_call if index == 0 else f"{self.function_call}_{index}"


def _output_text(text: str) -> dict[str, object]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(reply: Reply, ids: _ResponseIds, *, done: bool) -> dict[str, object]:
    return {
        "id": ids.message,
        "type": "message",
        "role": "assistant",
        "status": "completed" if done else "in_progress",
        "content": [_output_text(reply.text)] if done else [],
    }


def _function_call_item(reply: Reply, ids: _ResponseIds, index: int, *, done: bool) -> dict[str, object]:
    call = reply.tool_calls[index]
    return {
        "id": ids.call(index),
        "type": "function_call",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments_json if done else "",
        "status": "completed" if done else "in_progress",
    }


def _reasoning_item(reply: Reply, ids: _ResponseIds, *, done: bool) -> dict[str, object]:
    return {
        "id": ids.reasoning,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": reply.thinking}] if done else [],
        "encrypted_content": reply.signature,
    }


def _output_items(reply: Reply, ids: _ResponseIds) -> list[dict[str, object]]:
    items = [_reasoning_item(reply, ids, done=True)] if reply.thinking else []
    if reply.text:
        items.append(_message_item(reply, ids, done=True))
    items += [_function_call_item(reply, ids, index, done=True) for index in range(len(reply.tool_calls))]
    return items


def _response_object(
    reply: Reply, ids: _ResponseIds, request: Mapping[str, object], *, done: bool
) -> dict[str, object]:
    instructions = request.get("instructions")
    tools = request.get("tools")
    return {
        "id": ids.response,
        "object": "response",
        "created_at": ids.created_at,
        "status": ("incomplete" if reply.max_tokens else "completed") if done else "in_progress",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done and reply.max_tokens else None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": request.get("max_output_tokens"),
        "model": reply.model,
        "output": _output_items(reply, ids) if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": tools if isinstance(tools, list) else [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _responses_usage(reply.usage) if done else None,
        "user": None,
        "metadata": {},
    }


def responses_body(reply: Reply, request: Mapping[str, object]) -> dict[str, object]:
    """The non-streaming `/v1/responses` body (`object: "response"`, `status: "completed"`)."""
    return _response_object(reply, _ResponseIds(), request, done=True)


def responses_events(reply: Reply, request: Mapping[str, object]) -> list[bytes]:
    """SSE frames of a streamed response: response.created, response.in_progress, then per output item
    (output_item.added, content_part.added, output_text.delta xN, output_text.done, content_part.done,
    output_item.done; or the function_call_arguments events), then response.completed with usage."""
    ids = _ResponseIds()
    events: list[dict[str, object]] = [
        {"type": "response.created", "response": _response_object(reply, ids, request, done=False)},
        {"type": "response.in_progress", "response": _response_object(reply, ids, request, done=False)},
    ]
    output_index = 0
    if reply.thinking:
        events += _reasoning_events(reply, ids, output_index)
        output_index += 1
    if reply.text:
        events += _message_events(reply, ids, output_index)
        output_index += 1
    for index in range(len(reply.tool_calls)):
        events += _function_call_events(reply, ids, index, output_index)
        output_index += 1
    final = "response.incomplete" if reply.max_tokens else "response.completed"
    events.append({"type": final, "response": _response_object(reply, ids, request, done=True)})
    return [_typed_frame({**event, "sequence_number": number}) for number, event in enumerate(events)]


def _message_events(reply: Reply, ids: _ResponseIds, output_index: int) -> list[dict[str, object]]:
    position = {"item_id": ids.message, "output_index": output_index, "content_index": 0}
    return [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": _message_item(reply, ids, done=False),
        },
        {"type": "response.content_part.added", **position, "part": _output_text("")},
        *(
            {"type": "response.output_text.delta", **position, "delta": piece, "logprobs": []}
            for piece in text_chunks(reply.text)
        ),
        {"type": "response.output_text.done", **position, "text": reply.text, "logprobs": []},
        {"type": "response.content_part.done", **position, "part": _output_text(reply.text)},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": _message_item(reply, ids, done=True),
        },
    ]


def _reasoning_events(reply: Reply, ids: _ResponseIds, output_index: int) -> list[dict[str, object]]:
    position = {"item_id": ids.reasoning, "output_index": output_index, "summary_index": 0}
    part = {"type": "summary_text", "text": reply.thinking}
    return [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": _reasoning_item(reply, ids, done=False),
        },
        {"type": "response.reasoning_summary_part.added", **position, "part": {**part, "text": ""}},
        *(
            {"type": "response.reasoning_summary_text.delta", **position, "delta": piece}
            for piece in text_chunks(reply.thinking)
        ),
        {"type": "response.reasoning_summary_text.done", **position, "text": reply.thinking},
        {"type": "response.reasoning_summary_part.done", **position, "part": part},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": _reasoning_item(reply, ids, done=True),
        },
    ]


def _function_call_events(
    reply: Reply, ids: _ResponseIds, index: int, output_index: int
) -> list[dict[str, object]]:
    position = {"item_id": ids.call(index), "output_index": output_index}
    arguments = reply.tool_calls[index].arguments_json
    return [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": _function_call_item(reply, ids, index, done=False),
        },
        *(
            {"type": "response.function_call_arguments.delta", **position, "delta": piece}
            for piece in json_chunks(arguments)
        ),
        {"type": "response.function_call_arguments.done", **position, "arguments": arguments},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": _function_call_item(reply, ids, index, done=True),
        },
    ]


def _typed_frame(data: Mapping[str, object]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def input_tokens_body(reply: Reply) -> dict[str, object]:
    """The `/v1/responses/input_tokens` response: the reply's input tokens (estimate or override)."""
    return {"object": "response.input_tokens", "input_tokens": reply.usage.input_tokens}


# -- errors ------------------------------------------------------------------------------------------------


def error_body(status: int, error_type: str | None, message: str | None) -> dict[str, object]:
    """`{"error": {"message", "type", "param", "code"}}` as OpenAI sends for `status`."""
    default_type, code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    kind = error_type or default_type
    return {
        "error": {
            "message": message or f"fake provider: {kind} ({status})",
            "type": kind,
            "param": None,
            "code": code,
        }
    }
