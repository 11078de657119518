"""Google's Gemini API wire format (`generativelanguage.googleapis.com`): `models/MODEL:generateContent`,
`:streamGenerateContent?alt=sse` and `:countTokens` (bodies, SSE stream, errors).

The model is named by the path, not the body. Reasoning comes as `thought: true` text parts; the opaque
`thoughtSignature` rides on the first function call of a turn (on the last text part when there is none), as
Gemini 3 sends it. Like Gemini 3, a request whose history replays a model function call without the signature
it was given is refused with 400 (for models named `gemini-3*`): a client or proxy that drops the signatures
between turns breaks here as it would break there.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping

from .replies import BadRequest, ParsedRequest, Reply, ToolSpec, Usage, estimate_tokens, new_id, text_chunks
from .scenario import GEMINI_PATH

__all__ = [
    "SIGNATURE_CHECKED_MODELS",
    "SKIP_SIGNATURE_CHECK",
    "count_tokens_body",
    "error_body",
    "generate_body",
    "generate_events",
    "parse_generate_request",
]

PROMPT_FIELDS = ("systemInstruction", "contents", "tools")
SNAKE_PROMPT_FIELDS = ("system_instruction",)
SIGNATURE_CHECKED_MODELS = re.compile(r"^gemini-3")
SKIP_SIGNATURE_CHECK = "skip_thought_signature_validator"
"""The value Google documents for replaying calls whose signature was lost (history from another model);
accepted as written and base64-encoded (a JSON `bytes` field, as LiteLLM sends it)."""
_SKIP_VALUES = frozenset({SKIP_SIGNATURE_CHECK, base64.b64encode(SKIP_SIGNATURE_CHECK.encode()).decode()})

_SIGNATURE_PREFIX = b"fakesig:"

_STATUSES: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _field(value: Mapping[str, object], camel: str) -> object:
    """`value[camel]`, or its snake_case spelling: Google's JSON parser accepts both (LiteLLM sends snake)."""
    if camel in value:
        return value[camel]
    return value.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def _tool_specs(tools: object) -> tuple[ToolSpec, ...]:
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        declarations = _field(tool, "functionDeclarations") if isinstance(tool, Mapping) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if isinstance(declaration, Mapping) and isinstance(declaration.get("name"), str):
                schema = declaration.get("parameters") or _field(declaration, "parametersJsonSchema")
                specs.append(ToolSpec(declaration["name"], schema if isinstance(schema, Mapping) else {}))
    return tuple(specs)


def _last_user_text(contents: list[object]) -> str:
    for content in reversed(contents):
        if isinstance(content, Mapping) and content.get("role", "user") == "user":
            parts = content.get("parts")
            texts = (
                [p.get("text") for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []
            )
            return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def _valid_signature(value: object) -> bool:
    if value in _SKIP_VALUES:
        return True
    if not isinstance(value, str):
        return False
    try:
        return base64.b64decode(value, validate=True).startswith(_SIGNATURE_PREFIX)
    except ValueError:
        return False


def _check_signatures(model: str, contents: list[object]) -> None:
    """Gemini 3's rule: the first function call of every model turn in the history carries its signature."""
    if not SIGNATURE_CHECKED_MODELS.match(model):
        return
    for position, content in enumerate(contents):
        if not isinstance(content, Mapping) or content.get("role") != "model":
            continue
        parts = content.get("parts")
        calls = (
            [p for p in parts if isinstance(p, Mapping) and _field(p, "functionCall")]
            if isinstance(parts, list)
            else []
        )
        if calls and not _valid_signature(_field(calls[0], "thoughtSignature")):
            call = _field(calls[0], "functionCall")
            name = call.get("name") if isinstance(call, Mapping) else "?"
            raise BadRequest(
                "Function call is missing a thought_signature in functionCall parts. This is required for "
                "tools to work correctly, and missing thought_signature may lead to degraded model "
                f"performance. Additional data, function call `default_api:{name}` , position {position + 1}. "
                "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )


def parse_generate_request(body: Mapping[str, object], path: str) -> ParsedRequest:
    """Read a `:generateContent` / `:streamGenerateContent` / `:countTokens` body for the model of `path`;
    BadRequest when `contents` is missing (countTokens also takes it under `generateContentRequest`) or a
    Gemini 3 history lost a signature."""
    match = GEMINI_PATH.match(path)
    if match is None:
        raise BadRequest(f"not a Gemini model path: {path}")
    model = match.group("model")
    request = _field(body, "generateContentRequest") if match.group("action") == "countTokens" else None
    request = request if isinstance(request, Mapping) else body
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    _check_signatures(model, contents)
    return ParsedRequest(
        model=model,
        stream=match.group("action") == "streamGenerateContent",
        prompt_tokens=estimate_tokens(request, PROMPT_FIELDS + SNAKE_PROMPT_FIELDS),
        last_user_text=_last_user_text(contents),
        tools=_tool_specs(request.get("tools")),
    )


def _usage(usage: Usage, reply: Reply) -> dict[str, object]:
    thoughts = len(reply.thinking.split())
    candidates = max(0, usage.output_tokens - thoughts)
    body: dict[str, object] = {
        "promptTokenCount": usage.total_input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": usage.total_input_tokens + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.total_input_tokens}],
    }
    if thoughts:
        body["thoughtsTokenCount"] = thoughts
    if usage.cache_read_input_tokens:
        body["cachedContentTokenCount"] = usage.cache_read_input_tokens
    return body


def _finish_reason(reply: Reply) -> str:
    return "MAX_TOKENS" if reply.max_tokens else "STOP"


def _parts(reply: Reply, *, pieces: bool) -> list[list[dict[str, object]]]:
    """The reply's parts, grouped as they are sent: one group (a whole answer) or one per stream chunk."""
    groups: list[list[dict[str, object]]] = []
    if reply.thinking:
        thoughts = text_chunks(reply.thinking) if pieces else [reply.thinking]
        groups += [[{"text": piece, "thought": True}] for piece in thoughts]
    if reply.text:
        groups += [[{"text": piece}] for piece in (text_chunks(reply.text) if pieces else [reply.text])]
    calls: list[dict[str, object]] = [
        {"functionCall": {"name": call.name, "args": dict(call.arguments)}} for call in reply.tool_calls
    ]
    if calls:
        calls[0]["thoughtSignature"] = reply.signature
        groups.append(calls)  # Gemini sends a turn's function calls whole, together
    elif reply.thinking and reply.text:
        groups[-1][-1]["thoughtSignature"] = reply.signature
    if not pieces:
        return [[part for group in groups for part in group]]
    return groups or [[{"text": ""}]]


def _candidate(parts: list[dict[str, object]], finish_reason: str | None) -> dict[str, object]:
    candidate: dict[str, object] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return candidate


def generate_body(reply: Reply) -> dict[str, object]:
    """The non-streaming `:generateContent` response body."""
    return {
        "candidates": [_candidate(_parts(reply, pieces=False)[0], _finish_reason(reply))],
        "usageMetadata": _usage(reply.usage, reply),
        "modelVersion": reply.model,
        "responseId": new_id("fake"),
    }


def generate_events(reply: Reply) -> list[bytes]:
    """`data:` frames of `:streamGenerateContent?alt=sse`: one GenerateContentResponse per chunk (thoughts,
    text words, then the function calls), each with the usage so far; the last has `finishReason`."""
    response_id = new_id("fake")
    groups = _parts(reply, pieces=True)
    frames = []
    for number, parts in enumerate(groups, 1):
        last = number == len(groups)
        chunk = {
            "candidates": [_candidate(parts, _finish_reason(reply) if last else None)],
            "usageMetadata": _usage(reply.usage, reply)
            if last
            else {"promptTokenCount": reply.usage.total_input_tokens},
            "modelVersion": reply.model,
            "responseId": response_id,
        }
        # Google's SSE uses CRLF line ends.
        frames.append(f"data: {json.dumps(chunk, separators=(',', ':'))}\r\n\r\n".encode())
    return frames


def count_tokens_body(reply: Reply) -> dict[str, object]:
    """The `:countTokens` response."""
    return {
        "totalTokens": reply.usage.total_input_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.usage.total_input_tokens}],
    }


def error_body(status: int, error_type: str | None, message: str | None) -> dict[str, object]:
    """`{"error": {"code", "message", "status"}}` as Google sends; `error_type` overrides the status name."""
    kind = error_type or _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {
        "error": {"code": status, "message": message or f"fake provider: {kind} ({status})", "status": kind}
    }
