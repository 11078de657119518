"""Ollama's native API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`): bodies, NDJSON streams,
errors.

Ollama streams unless the body says `"stream": false`, one JSON object per line (`application/x-ndjson`),
the last with `done: true`, `done_reason` and the token counts (`prompt_eval_count`, `eval_count`). Reasoning
arrives in `message.thinking` (`thinking` on /api/generate); tool calls come whole, arguments as a JSON
object, in one chunk.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence

from .replies import (
    BadRequest,
    ParsedRequest,
    Reply,
    ToolSpec,
    estimate_tokens,
    last_user_text,
    required_model,
    text_chunks,
)

__all__ = [
    "CONTENT_TYPE",
    "CONTEXT_LENGTH",
    "chat_body",
    "chat_lines",
    "error_body",
    "generate_body",
    "generate_lines",
    "parse_chat_request",
    "parse_generate_request",
    "show_body",
    "tags_body",
]

CONTENT_TYPE = "application/x-ndjson"
CONTEXT_LENGTH = 131_072
CHAT_PROMPT_FIELDS = ("messages", "tools")
GENERATE_PROMPT_FIELDS = ("system", "prompt")


def _streams(body: Mapping[str, object]) -> bool:
    return body.get("stream") is not False  # Ollama's default is to stream


def _tool_specs(tools: object) -> tuple[ToolSpec, ...]:
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            specs.append(ToolSpec(function["name"], parameters if isinstance(parameters, Mapping) else {}))
    return tuple(specs)


def parse_chat_request(body: Mapping[str, object]) -> ParsedRequest:
    """Read an `/api/chat` body; BadRequest if it lacks model/messages."""
    model = required_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: Field required")
    return ParsedRequest(
        model=model,
        stream=_streams(body),
        prompt_tokens=estimate_tokens(body, CHAT_PROMPT_FIELDS),
        last_user_text=last_user_text(messages),
        tools=_tool_specs(body.get("tools")),
    )


def parse_generate_request(body: Mapping[str, object]) -> ParsedRequest:
    """Read an `/api/generate` body (a `prompt`, no tools); BadRequest if it lacks model."""
    model = required_model(body)
    prompt = body.get("prompt")
    return ParsedRequest(
        model=model,
        stream=_streams(body),
        prompt_tokens=estimate_tokens(body, GENERATE_PROMPT_FIELDS),
        last_user_text=prompt if isinstance(prompt, str) else "",
        tools=(),
    )


def _created_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _done_reason(reply: Reply) -> str:
    return "length" if reply.max_tokens else "stop"


def _stats(reply: Reply) -> dict[str, object]:
    """The fields of the final object: why it ended and the counts (durations in nanoseconds)."""
    return {
        "done_reason": _done_reason(reply),
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": reply.usage.total_input_tokens,
        "prompt_eval_duration": 200_000,
        "eval_count": reply.usage.output_tokens,
        "eval_duration": 700_000,
    }


def _tool_calls(reply: Reply) -> list[dict[str, object]]:
    return [{"function": {"name": call.name, "arguments": dict(call.arguments)}} for call in reply.tool_calls]


def _message(
    content: str, *, thinking: str = "", calls: Sequence[Mapping[str, object]] = ()
) -> dict[str, object]:
    message: dict[str, object] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = list(calls)
    return message


def chat_body(reply: Reply) -> dict[str, object]:
    """The `/api/chat` answer with `"stream": false`."""
    message = _message(reply.text, thinking=reply.thinking, calls=_tool_calls(reply))
    return {
        "model": reply.model,
        "created_at": _created_at(),
        "message": message,
        "done": True,
        **_stats(reply),
    }


def _line(data: Mapping[str, object]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def chat_lines(reply: Reply) -> list[bytes]:
    """The streamed `/api/chat` answer: thinking pieces, content pieces, one chunk with every tool call,
    then the `done` object (empty content) with the counts."""
    envelope = {"model": reply.model}
    chunks = [_message("", thinking=piece) for piece in text_chunks(reply.thinking)] if reply.thinking else []
    chunks += [_message(piece) for piece in text_chunks(reply.text) if piece] if reply.text else []
    if reply.tool_calls:
        chunks.append(_message("", calls=_tool_calls(reply)))
    lines = [_line({**envelope, "created_at": _created_at(), "message": m, "done": False}) for m in chunks]
    final = {**envelope, "created_at": _created_at(), "message": _message(""), "done": True, **_stats(reply)}
    return [*lines, _line(final)]


def generate_body(reply: Reply) -> dict[str, object]:
    """The `/api/generate` answer with `"stream": false`."""
    body: dict[str, object] = {"model": reply.model, "created_at": _created_at(), "response": reply.text}
    if reply.thinking:
        body["thinking"] = reply.thinking
    return {**body, "done": True, **_stats(reply)}


def generate_lines(reply: Reply) -> list[bytes]:
    """The streamed `/api/generate` answer: `thinking` pieces, `response` pieces, then the `done` object."""
    envelope = {"model": reply.model}
    pieces: list[dict[str, object]] = []
    if reply.thinking:
        pieces += [{"response": "", "thinking": piece} for piece in text_chunks(reply.thinking)]
    pieces += [{"response": piece} for piece in text_chunks(reply.text)]
    lines = [_line({**envelope, "created_at": _created_at(), **p, "done": False}) for p in pieces]
    return [
        *lines,
        _line({**envelope, "created_at": _created_at(), "response": "", "done": True, **_stats(reply)}),
    ]


def error_body(status: int, error_type: str | None, message: str | None) -> dict[str, object]:
    """`{"error": "..."}`, Ollama's error shape (`error_type` is folded into the message)."""
    default = {404: "model not found, try pulling it first"}.get(status, f"fake provider error ({status})")
    text = message or default
    return {"error": f"{error_type}: {text}" if error_type else text}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def tags_body(models: Sequence[str]) -> dict[str, object]:
    """`GET /api/tags`: the local models (name, model, size, digest, details)."""
    rows = [
        {
            "name": name,
            "model": name,
            "modified_at": _created_at(),
            "size": 4_000_000_000,
            "digest": _digest(name),
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": "8B",
                "quantization_level": "Q4_K_M",
            },
        }
        for name in models
    ]
    return {"models": rows}


def show_body(model: str) -> dict[str, object]:
    """`POST /api/show`: a model's details, its context length and capabilities (tools, thinking)."""
    return {
        "modelfile": f"FROM {model}\n",
        "parameters": "",
        "template": "{{- if .Tools }}tools{{ end }}{{ .Prompt }}",
        "details": {
            "format": "gguf",
            "family": "llama",
            "parameter_size": "8B",
            "quantization_level": "Q4_K_M",
        },
        "model_info": {"general.architecture": "llama", "llama.context_length": CONTEXT_LENGTH},
        "capabilities": ["completion", "tools", "thinking"],
    }
